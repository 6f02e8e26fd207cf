"""Paired bootstrap of (student A - student B): point estimates equal eval's, intervals behave."""

from __future__ import annotations

import numpy as np
import pytest

from driftalign.constants import MSCXRT_FINDINGS
from driftalign.data.dataset import load_dataset
from driftalign.metrics import evaluate_predictions
from driftalign.metrics.bootstrap import StudyOutcomes, paired_bootstrap, study_outcomes


def _outcomes(correct: list[int], f1: list[float], errors: list[int]) -> StudyOutcomes:
    n = len(correct)
    pos, neg = np.arange(0, n, 2), np.arange(1, n, 2)
    c = np.array(correct, dtype=float)
    return StudyOutcomes(tuple(f"s{i}" for i in range(n)), {f: c for f in MSCXRT_FINDINGS},
                         {f: pos for f in MSCXRT_FINDINGS}, {f: neg for f in MSCXRT_FINDINGS},
                         np.array(f1), np.array(errors, dtype=float))


def test_hand_computed_point_estimates():
    # positives at 0, 2; negatives at 1, 3: accuracy = (mean(1, 0) + mean(1, 1)) / 2 = 0.75
    o = _outcomes([1, 1, 0, 1], [1.0, 0.5, 0.0, 0.5], [0, 2, 1, 0])
    assert o.point() == pytest.approx({"avg_accuracy": 0.75, "clinical_f1": 0.5, "drift_errors_per_100": 75.0})


def test_identical_students_give_a_zero_interval_and_a_better_one_a_positive_one():
    rng = np.random.default_rng(0)
    base = _outcomes(list(rng.integers(0, 2, 200)), list(rng.random(200)), list(rng.integers(0, 3, 200)))
    same = paired_bootstrap([(base, base)], n_boot=200)
    assert all(v == {"diff": 0.0, "lo": 0.0, "hi": 0.0} for v in same.values())
    better = _outcomes([1] * 200, list(np.clip(base.f1 + 0.2, 0, 1)), [0] * 200)
    ci = paired_bootstrap([(better, base)], n_boot=200)
    assert 0 < ci["avg_accuracy"]["lo"] <= ci["avg_accuracy"]["diff"] <= ci["avg_accuracy"]["hi"]
    assert ci["clinical_f1"]["lo"] > 0 and ci["drift_errors_per_100"]["hi"] < 0
    # two seeds: the pooled difference is the mean of the seeds' differences
    pooled = paired_bootstrap([(better, base), (base, base)], n_boot=100)
    assert pooled["avg_accuracy"]["diff"] == pytest.approx(ci["avg_accuracy"]["diff"] / 2)


def test_unpaired_inputs_are_refused():
    a = _outcomes([1, 0], [1.0, 0.0], [0, 0])
    b = StudyOutcomes(("x", "y"), a.correct, a.positive, a.negative, a.f1, a.errors)
    with pytest.raises(ValueError, match="same studies"):
        paired_bootstrap([(a, b)])


def test_point_estimates_equal_eval(synth_world):
    ds = load_dataset(synth_world, verify_images=False)
    studies = ds.split("test")
    texts = [s.report if i % 3 else "No acute cardiopulmonary process. Right pleural effusion."
             for i, s in enumerate(studies)]
    result = evaluate_predictions([{"study_id": s.study_id, "text": t} for s, t in zip(studies, texts)], ds,
                                  "test", nlg=False)
    point = study_outcomes(texts, studies).point()
    assert point["avg_accuracy"] == pytest.approx(result["accuracy"]["average"])
    assert point["clinical_f1"] == pytest.approx(result["clinical"]["example_based"]["f1"])
    assert point["drift_errors_per_100"] == pytest.approx(result["drift_errors"]["total"])
