"""The uncertain convention (labeling/uncertain.py) as eval, drift and the vote apply it."""

from __future__ import annotations

import pytest

from driftalign.consensus.vote import vote
from driftalign.drift.answers import asserted_findings
from driftalign.labeling.claims import Claim
from driftalign.labeling.uncertain import DEFAULT_UNCERTAIN, UncertainPolicy, is_positive, label_class
from driftalign.metrics.clinical import clinical_scores, report_f1


def test_label_class_per_policy() -> None:
    assert DEFAULT_UNCERTAIN is UncertainPolicy.NEGATIVE
    assert [label_class(v) for v in (1, 0, -1, None)] == [1, 0, 0, 0]
    assert [label_class(v, "positive") for v in (1, 0, -1, None)] == [1, 0, 1, 0]
    assert [label_class(v, "own") for v in (1, 0, -1, None)] == [1, 0, -1, 0]
    assert is_positive(-1, UncertainPolicy.POSITIVE) and not is_positive(-1) and not is_positive(-1, "own")
    with pytest.raises(ValueError):
        label_class(2)


def test_clinical_f1_under_each_policy() -> None:
    pred = [{"Pneumonia": -1, "Edema": 1}]
    ref = [{"Pneumonia": 1, "Edema": 1}]
    # negative (default, unchanged behaviour): pneumonia missed -> tp 1, fn 1
    assert report_f1(pred[0], ref[0]) == pytest.approx(1 / (1 + 0.5))
    assert clinical_scores(pred, ref)["micro"]["recall"] == pytest.approx(0.5)
    # positive: the hedge counts -> perfect
    assert report_f1(pred[0], ref[0], uncertain="positive") == pytest.approx(1.0)
    # own: -1 vs 1 is a false positive and a false negative
    scores = clinical_scores(pred, ref, uncertain=UncertainPolicy.OWN)
    assert scores["micro"]["precision"] == pytest.approx(0.5) and scores["micro"]["recall"] == pytest.approx(0.5)
    # own: uncertain against uncertain is a hit, and counts as support
    both = clinical_scores([{"Pneumonia": -1}], [{"Pneumonia": -1}], uncertain="own")
    assert both["micro"]["f1"] == pytest.approx(1.0) and both["per_label"]["Pneumonia"]["support"] == 1
    assert clinical_scores([{"Pneumonia": -1}], [{"Pneumonia": -1}])["micro"]["f1"] == 0.0


def test_drift_assertions_follow_the_policy() -> None:
    labels = {"Pneumonia": -1, "Edema": 1, "Pleural Effusion": 0}
    assert asserted_findings(labels) == {"Edema"}
    assert asserted_findings(labels, uncertain="positive") == {"Edema", "Pneumonia"}


def _claims(polarity_by_teacher: dict[str, int]) -> dict[str, list[Claim]]:
    text = {1: "Pneumonia.", 0: "No pneumonia.", -1: "Possible pneumonia."}
    return {t: [Claim("Pneumonia", p, None, 0, text[p])] for t, p in polarity_by_teacher.items()}


def test_vote_counts_hedges_by_the_policy() -> None:
    claims = _claims({"a": -1, "b": -1, "c": 1, "d": 0, "e": 0})
    assert vote(claims).stance == {}                                     # own (default): no majority
    assert vote(claims, "positive").stance == {"Pneumonia": 1}           # 3 of 5 say present
    negative = vote(claims, "negative")
    assert negative.stance == {"Pneumonia": 0}                           # 4 of 5 say not present
    assert negative.text == "No pneumonia."                              # a hedge never states it
    assert vote(_claims({"a": -1, "b": -1, "c": 0})).stance == {"Pneumonia": -1}
