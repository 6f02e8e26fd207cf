"""The labeler against the real-style corpus (tests/data/real_style_*.jsonl), labelled by hand.

The corpus imitates public chest X-ray report corpora (MIMIC-CXR / Open-i: "XXXX" / "___"
anonymisation, FINDINGS / IMPRESSION headings, numbered impressions, hard-wrapped lines, comparisons
with priors). Its labels were written as a CheXpert annotator would, before the labeler was changed
to fit them (before: 394/435 sentences and 48/62 reports fully right). Each sentence row carries
the pattern class it exercises; every class listed in `PATTERN_CLASSES` must stay covered.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from driftalign.constants import OBSERVATIONS
from driftalign.labeling import label_report, label_reports

DATA = Path(__file__).parent / "data"
SENTENCES = [json.loads(line) for line in (DATA / "real_style_sentences.jsonl").open()]
REPORTS = [json.loads(line) for line in (DATA / "real_style_reports.jsonl").open()]

# Items the rules get wrong, each with why (never loosened as a whole).
KNOWN_WRONG: dict[str, str] = {
    "s248": "'no pleural effusion, except for a trace amount' re-asserts the effusion without naming it; "
            "a rule would need coreference ('a trace amount' = effusion)",
}

# Pattern classes of the CheXpert labeler / NegBio rules (and driftalign additions) the corpus covers.
PATTERN_CLASSES = (
    "neg_list", "neg_clear_of", "neg_free_of", "neg_without", "neg_negative_for", "neg_no_evidence", "neg_no",
    "neg_not_seen", "neg_resolved", "neg_removed", "neg_normal", "neg_rather_than",
    "unc_cannot_exclude", "unc_not_excluded", "unc_no_new", "unc_may", "unc_possible", "unc_suspicious",
    "unc_likely", "unc_versus", "unc_or", "unc_differential", "unc_hedged", "unc_stable_silhouette",
    "unc_correlate", "unc_scope", "pseudo", "terminate", "mention", "unmention", "lookalike", "no_finding",
    "other_finding",
)


def _expected(row: dict) -> dict[str, int | None]:
    return {name: row["labels"].get(name) for name in OBSERVATIONS}


def _param(row: dict, key: str):
    marks = [pytest.mark.xfail(reason=KNOWN_WRONG[row[key]], strict=True)] if row[key] in KNOWN_WRONG else []
    return pytest.param(row, id=row[key], marks=marks)


def test_corpus_size_and_coverage() -> None:
    assert len(SENTENCES) >= 300 and len(REPORTS) >= 60
    rows = SENTENCES + REPORTS
    for name in OBSERVATIONS:
        values = {r["labels"].get(name) for r in rows if name in r["labels"]}
        wanted = {1} if name == "No Finding" else {1, 0, -1}
        assert wanted <= values, f"{name}: corpus lacks values {wanted - values}"
    classes = [r["pattern"] for r in SENTENCES]
    for cls in PATTERN_CLASSES:
        assert classes.count(cls) >= 1, cls
    assert all(set(r["labels"]) <= set(OBSERVATIONS) for r in rows)
    assert all(v in (1, 0, -1) for r in rows for v in r["labels"].values())
    # report conventions of the public corpora are present
    texts = [r["text"] for r in REPORTS]
    for marker in ("XXXX", "___", "IMPRESSION:", "FINDINGS:", "\n1. ", "INDICATION:", "COMPARISON"):
        assert any(marker in t for t in texts), marker


@pytest.mark.parametrize("row", [_param(r, "id") for r in SENTENCES])
def test_sentence(row: dict) -> None:
    assert label_report(row["text"]) == _expected(row), (row["pattern"], row["text"])


@pytest.mark.parametrize("row", [_param(r, "study_id") for r in REPORTS])
def test_report(row: dict) -> None:
    assert label_report(row["text"]) == _expected(row), row["text"]


@pytest.mark.parametrize("rows", [SENTENCES, REPORTS], ids=["sentences", "reports"])
def test_per_observation_agreement(rows: list[dict]) -> None:
    """Per-observation agreement over the whole corpus (printed with -s); >= 0.99 for every one."""
    got = label_reports([r["text"] for r in rows])
    agreement = {name: sum(g[name] == _expected(r)[name] for g, r in zip(got, rows)) / len(rows) for name in OBSERVATIONS}
    print({k: round(v, 3) for k, v in agreement.items()})
    assert min(agreement.values()) >= 0.99, agreement
