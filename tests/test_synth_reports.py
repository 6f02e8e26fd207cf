"""Reference reports agree with the labels: positives stated, hedges hedged, negatives negated,
unlabelled observations not mentioned at all."""

from __future__ import annotations

import re

import numpy as np
import pytest

from driftalign.constants import OBSERVATIONS
from driftalign.synth.reports import write_report
from driftalign.synth.sampling import sample_truths
from driftalign.synth.truth import Finding, StudyTruth

# How each observation is mentioned in the reports (lower-cased sentences).
MENTION = {
    "Atelectasis": r"atelectasis",
    "Cardiomegaly": r"cardiomegaly|heart|cardiac silhouette",
    "Consolidation": r"consolidation",
    "Edema": r"edema",
    "Enlarged Cardiomediastinum": r"mediastin",
    "Fracture": r"fracture",
    "Lung Lesion": r"nodule|mass\b",
    "Lung Opacity": r"opacit|infiltrat",
    "Pleural Effusion": r"effusion|costophrenic",
    "Pleural Other": r"pleural thickening",
    "Pneumonia": r"pneumonia|infection",
    "Pneumothorax": r"pneumothorax",
    "Support Devices": r"\btube\b|catheter|central line|pacemaker",
}
NEGATION = re.compile(r"\bno\b|\bnot\b|\bnormal\b|\bwithout\b")
HEDGE = re.compile(r"\bpossible\b|\bcannot\b|\bmay\b|\bquestionable\b")
NORMAL = re.compile(r"no acute (cardiopulmonary|intrathoracic)")


def _sentences(findings: str, impression: str) -> list[str]:
    text = f"{findings} {impression}".lower()
    return [s.strip() for s in re.split(r"(?<=[.;])\s+", text) if s.strip()]


def _check_consistent(truth: StudyTruth, findings: str, impression: str) -> None:
    labels = truth.labels()
    sentences = _sentences(findings, impression)
    for name, pattern in MENTION.items():
        hits = [s for s in sentences if re.search(pattern, s)]
        value = labels[name]
        where = f"{truth.study_id} {name}={value}: {findings!r} / {impression!r}"
        if value is None:
            assert not hits, where
        elif value == 0:
            assert hits and all(NEGATION.search(s) for s in hits), where
        elif value == -1:
            assert hits and all(HEDGE.search(s) and not NEGATION.search(s) for s in hits), where
        else:
            assert any(not NEGATION.search(s) and not HEDGE.search(s) for s in hits), where
    assert bool(NORMAL.search(impression.lower())) == (labels["No Finding"] == 1), (truth.study_id, impression)


def test_reports_are_consistent_with_labels_on_2000_studies() -> None:
    for i, (truth, _split) in enumerate(sample_truths(2000, seed=11)):
        findings, impression = write_report(truth, np.random.default_rng(i))
        _check_consistent(truth, findings, impression)


def test_every_observation_is_reported_positive_and_hedged() -> None:
    """Each observation's positive and hedged phrasing passes the checks (not only those sampled)."""
    rng = np.random.default_rng(0)
    for name in OBSERVATIONS:
        if name == "No Finding":
            continue
        for uncertain in (False, True):
            if name == "Support Devices" and uncertain:
                continue
            f = Finding(name, side="left", location="lower lobe", severity="moderate", uncertain=uncertain)
            truth = StudyTruth("s", findings=(f,))
            for _ in range(20):
                _check_consistent(truth, *write_report(truth, rng))


def test_normal_study_wording_and_explicit_negatives() -> None:
    truth = StudyTruth("s", negatives=("Pneumothorax", "Pleural Effusion"))
    seen = set()
    for seed in range(40):
        findings, impression = write_report(truth, np.random.default_rng(seed))
        seen.add(findings)
        assert NORMAL.search(impression.lower())
        assert "pneumothorax" in findings.lower() and "effusion" in findings.lower()
    assert any("No pleural effusion or pneumothorax." in f for f in seen)
    assert len(seen) >= 5, "phrasing should vary"


def test_phrasing_variety_and_radiologist_vocabulary() -> None:
    texts = []
    for i, (truth, _) in enumerate(sample_truths(600, seed=2)):
        texts.append(" ".join(write_report(truth, np.random.default_rng(i))))
    corpus = " ".join(texts)
    for phrase in ("enlarged cardiac silhouette", "blunting of the", "costophrenic angle", "basilar opacity",
                   "no pneumothorax", "cannot exclude", "may represent", "cm above the carina",
                   "terminate in the right ventricle", "no acute cardiopulmonary process"):
        assert phrase in corpus.lower(), phrase
    assert len(set(texts)) > 0.8 * len(texts)


def test_hedged_pneumonia_with_definite_consolidation() -> None:
    truth = StudyTruth("s", findings=(Finding("Consolidation", side="right", location="lower lobe"),
                                      Finding("Pneumonia", side="right", location="lower lobe", uncertain=True)))
    assert truth.labels()["Consolidation"] == 1 and truth.labels()["Pneumonia"] == -1
    for seed in range(20):
        findings, impression = write_report(truth, np.random.default_rng(seed))
        _check_consistent(truth, findings, impression)
        assert "right lower lobe" in findings.lower()


@pytest.mark.parametrize("side,expected", [("right", "right"), ("left", "left"), ("bilateral", "bilateral")])
def test_effusion_side_is_reported(side: str, expected: str) -> None:
    truth = StudyTruth("s", findings=(Finding("Pleural Effusion", side=side, severity="small"),))
    findings, impression = write_report(truth, np.random.default_rng(0))
    assert expected in impression.lower() and "effusion" in impression.lower()
