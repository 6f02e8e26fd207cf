"""Mechanics behind the CheXpert/NegBio parity rules: sections, hard wraps, precedence, scopes."""

from __future__ import annotations

import re

from driftalign.labeling import label_report
from driftalign.labeling.context import _COMPILED, flexible_spaces
from driftalign.labeling.patterns import TRIGGERS, Category
from driftalign.labeling.sections import skipped_spans
from driftalign.labeling.text import lowercase, word_matches


def _nonnull(text: str) -> dict[str, int]:
    return {k: v for k, v in label_report(text).items() if v is not None}


def test_indication_history_comparison_sections_are_not_findings() -> None:
    text = ("INDICATION: ___ man with CHF, evaluate for pneumonia.\nHISTORY: Prior pneumothorax.\n\n"
            "COMPARISON: CT showing a right upper lobe nodule.\n\nFINDINGS: No pleural effusion.\n")
    assert _nonnull(text) == {"Pleural Effusion": 0, "No Finding": 1}
    # a skipped section ends at a blank line even without a following heading
    assert _nonnull("History: pneumonia.\n\nSmall left pleural effusion.") == {"Pleural Effusion": 1}
    # inline heading after a skipped one on the same line ends it too
    low = lowercase("Comparison: None. Findings: cardiomegaly.")
    assert skipped_spans(low) == [(0, low.index("findings"))]
    assert _nonnull("Comparison: None. Findings: Cardiomegaly.") == {"Cardiomegaly": 1}


def test_hard_wrapped_phrases_match() -> None:
    assert label_report("Pneumonia cannot\n   be excluded.")["Pneumonia"] == -1
    assert label_report("Heart size is at the upper limits\nof normal.")["Cardiomegaly"] == 0
    assert flexible_spaces(r"(?<!pleural )no (?:a|b c)[- ]x") == r"(?<!pleural )no +(?:a|b +c)[- ]x"


def test_word_matches_equals_a_leading_lookbehind() -> None:
    text = lowercase("For the anterior or posterior, no nodule; normal or abnormal. This normal heart, or not.")
    for spec, regex in _COMPILED:
        if spec.pattern[0] in ",;":
            continue
        reference = re.compile(r"(?<![a-z0-9])" + regex.pattern)
        assert [m.span() for m in word_matches(regex, text)] == [m.span() for m in reference.finditer(text)], spec.pattern


def test_semicolon_ends_every_scope() -> None:
    assert _nonnull("No pneumothorax; the endotracheal tube is in place.") == {"Pneumothorax": 0, "Support Devices": 1, "No Finding": 1}


def test_negation_is_applied_before_post_negation_uncertainty() -> None:
    # NegBio order: pre-negation uncertainty > negation > post-negation uncertainty
    assert label_report("No consolidation concerning for pneumonia.")["Pneumonia"] == 0
    assert label_report("Consolidation concerning for pneumonia.")["Pneumonia"] == -1
    assert label_report("No pneumothorax or effusion.")["Pneumothorax"] == 0
    assert label_report("Atelectasis or pneumonia.")["Pneumonia"] == -1
    assert label_report("No new pneumothorax.")["Pneumothorax"] == -1          # pre-negation uncertainty
    assert label_report("No effusion, possible pneumonia.")["Pneumonia"] == -1  # a hedge ends the negation


def test_negated_or_list_keeps_severity_items() -> None:
    labels = label_report("No consolidation, large effusion, or pneumothorax.")
    assert (labels["Pleural Effusion"], labels["Pneumothorax"]) == (0, 0)
    assert label_report("No pneumothorax, small left pleural effusion.")["Pleural Effusion"] == 1


def test_benign_explanations_only_drop_asserted_lesions() -> None:
    assert label_report("Nodule consistent with a granuloma.")["Lung Lesion"] is None
    assert label_report("Possible nodule versus nipple shadow.")["Lung Lesion"] == -1
    assert label_report("No nodule; calcified granuloma.")["Lung Lesion"] == 0


def test_every_trigger_names_its_source() -> None:
    assert all(spec.source for spec in TRIGGERS)
    yielding = [s for s in TRIGGERS if s.yields_to_negation]
    assert yielding and all(s.category is Category.UNCERTAIN for s in yielding)
