"""Metric values on toy inputs, computed by hand in each docstring."""

from __future__ import annotations

import hashlib
import shutil

import pytest

from driftalign.metrics.accuracy import balanced_indices, finding_accuracy, mscxrt_accuracy
from driftalign.metrics.auc import auc_scores, finding_auc
from driftalign.metrics.clinical import clinical_scores, report_f1
from driftalign.metrics.nlg import clean_report, meteor_score, nlg_scores


def test_clean_report_follows_r2gen() -> None:
    assert clean_report("1. Small left effusion.  2. No pneumothorax (new).") == "small left effusion . no pneumothorax new ."
    assert clean_report("Heart size is NORMAL.. Lungs: clear;\nno effusion") == "heart size is normal . lungs clear no effusion ."
    assert clean_report("Left-sided PICC, tip in SVC.") == "left-sided picc tip in svc ."
    assert clean_report("") == " ."


def test_bleu_rouge_cider_on_a_hand_computed_pair() -> None:
    """hyp "the cat sat on a mat ." vs ref "the cat sat on the mat ." (7 tokens each, BP = 1).

    n-gram precisions: 1-gram 6/7 (all but "a"), 2-gram 4/6 (the cat, cat sat, sat on, mat .),
    3-gram 2/5 (the cat sat, cat sat on), 4-gram 1/4 (the cat sat on).
    BLEU-n = geometric mean of the first n: BLEU-1 = 0.857143, BLEU-2 = sqrt(6/7 * 4/6) = 0.755929,
    BLEU-3 = (6/7 * 4/6 * 2/5)^(1/3) = 0.611421, BLEU-4 = (... * 1/4)^(1/4) = 0.488923.
    ROUGE-L: LCS "the cat sat on mat ." = 6, P = R = 6/7 -> F(beta=1.2) = 6/7.
    CIDEr with a single reference document: every n-gram has idf log(1/1) = 0 -> 0.
    """
    s = nlg_scores(["the cat sat on the mat ."], ["the cat sat on a mat ."], meteor=False, clean=False)
    assert s["BLEU-1"] == pytest.approx(6 / 7, rel=1e-6)
    assert s["BLEU-2"] == pytest.approx((6 / 7 * 4 / 6) ** 0.5, rel=1e-6)
    assert s["BLEU-3"] == pytest.approx((6 / 7 * 4 / 6 * 2 / 5) ** (1 / 3), rel=1e-6)
    assert s["BLEU-4"] == pytest.approx((6 / 7 * 4 / 6 * 2 / 5 * 1 / 4) ** 0.25, rel=1e-6)
    assert s["ROUGE-L"] == pytest.approx(6 / 7, rel=1e-9)
    assert s["CIDEr"] == 0.0
    assert s["METEOR"] is None


def test_nlg_identical_reports_score_one() -> None:
    refs = ["Small left pleural effusion. No pneumothorax.", "Heart size is normal. Lungs are clear."]
    s = nlg_scores(refs, list(refs), meteor=False)
    assert s["BLEU-4"] == pytest.approx(1.0, rel=1e-6) and s["ROUGE-L"] == pytest.approx(1.0)


@pytest.mark.skipif(shutil.which("java") is None, reason="METEOR needs Java")
def test_meteor_real_scorer_on_a_toy_pair() -> None:
    """METEOR 1.5 (pycocoevalcap's bundled jar) of the BLEU example above, measured once with the
    jar and checked: P = R = 6/7 on exact matches, fragmentation penalty for 2 chunks
    ("the cat sat on", "mat ."), minus "a"/"the" function-word weighting -> 0.47848."""
    assert meteor_score(["the cat sat on the mat ."], ["the cat sat on a mat ."]) == pytest.approx(0.47848, abs=2e-4)
    assert meteor_score(["no pneumothorax ."], ["no pneumothorax ."]) > 0.9


def test_clinical_scores_hand_computed() -> None:
    """Three reports, positives only (1) count:
    A pred {Cardiomegaly, Edema} (Pleural Effusion -1 is not positive), ref {Cardiomegaly, Pleural Effusion}:
      tp 1, fp 1, fn 1 -> P .5, R .5, F1 1/(1+1) = .5
    B pred {No Finding}, ref {No Finding}: tp 1 -> 1, 1, 1
    C pred {} (Pneumothorax 0), ref {Pneumonia}: tp 0, fp 0, fn 1 -> P 0/0 = 0, R 0, F1 0
    example-based: P = (.5+1+0)/3 = .5, R = .5, F1 = .5
    macro over 14 labels: Cardiomegaly 1/1/1, No Finding 1/1/1, all others 0 -> 2/14 each
    micro: tp 2, fp 1, fn 2 -> P 2/3, R 1/2, F1 2/(2 + 1.5) = 4/7
    """
    pred = [{"Cardiomegaly": 1, "Edema": 1, "Pleural Effusion": -1}, {"No Finding": 1}, {"Pneumothorax": 0}]
    ref = [{"Cardiomegaly": 1, "Pleural Effusion": 1}, {"No Finding": 1}, {"Pneumonia": 1}]
    s = clinical_scores(pred, ref)
    assert s["example_based"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5})
    assert s["macro"] == pytest.approx({"precision": 2 / 14, "recall": 2 / 14, "f1": 2 / 14})
    assert s["micro"] == pytest.approx({"precision": 2 / 3, "recall": 0.5, "f1": 4 / 7})
    assert s["per_label"]["Edema"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert s["per_label"]["Cardiomegaly"]["support"] == 1
    assert report_f1(pred[0], ref[0]) == pytest.approx(0.5)


def test_clinical_scores_reject_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="2 predictions but 1 references"):
        clinical_scores([{}, {}], [{}])


def test_finding_accuracy_hand_computed() -> None:
    """Pneumothorax. ref: s1 1, s2 1, s3 0, s4 None, s5 0, s6 -1 (skipped), s7 None.
    pred:  s1 1 (ok), s2 0 (miss), s3 0 (ok), s4 1 (wrong), s5 None -> 0 (ok), s6 1 (skipped), s7 0 (ok).
    unbalanced: 4 correct of 6; 2 positives, 4 negatives -> majority baseline 4/6.
    balanced: s1, s2 + the 2 negatives with the smallest sha256("Pneumothorax|<id>").
    """
    ids = ["s1", "s2", "s3", "s4", "s5", "s6", "s7"]
    ref = [{"Pneumothorax": v} for v in (1, 1, 0, None, 0, -1, None)]
    pred = [{"Pneumothorax": v} for v in (1, 0, 0, 1, None, 1, 0)]
    d = finding_accuracy("Pneumothorax", ids, pred, ref)
    assert (d["n"], d["positives"], d["negatives"], d["skipped_uncertain"]) == (6, 2, 4, 1)
    assert d["unbalanced"] == pytest.approx(4 / 6)
    assert d["majority_baseline"] == pytest.approx(4 / 6)
    negatives = sorted(["s3", "s4", "s5", "s7"], key=lambda s: hashlib.sha256(f"Pneumothorax|{s}".encode()).hexdigest())[:2]
    correct = {"s1": 1, "s2": 0, "s3": 1, "s4": 0, "s5": 1, "s7": 1}
    expected = (correct["s1"] + correct["s2"] + sum(correct[s] for s in negatives)) / 4
    assert d["n_balanced"] == 4
    assert d["balanced"] == pytest.approx(expected)


def test_balanced_subset_is_deterministic_and_order_independent() -> None:
    ids = [f"study-{i}" for i in range(20)]
    truth = [1 if i % 4 == 0 else 0 for i in range(20)]   # 5 positives, 15 negatives
    picked = {ids[i] for i in balanced_indices("Edema", ids, truth)}
    reversed_picked = {ids[::-1][i] for i in balanced_indices("Edema", ids[::-1], truth[::-1])}
    assert picked == reversed_picked and len(picked) == 10
    assert sum(truth[ids.index(s)] for s in picked) == 5


def test_mscxrt_accuracy_average_over_defined_findings() -> None:
    """Consolidation: one positive predicted right, one negative predicted right -> 1.0.
    Edema: one positive missed, one negative right -> 0.5. Other three findings: no positives
    -> balanced accuracy undefined (None). average = (1.0 + 0.5) / 2 = 0.75."""
    ids = ["a", "b"]
    ref = [{"Consolidation": 1, "Edema": 1}, {"Consolidation": 0}]
    pred = [{"Consolidation": 1}, {}]
    summary, details = mscxrt_accuracy(ids, pred, ref)
    assert summary["Consolidation"] == 1.0 and summary["Edema"] == 0.5
    assert summary["Pneumothorax"] is None
    assert summary["average"] == pytest.approx(0.75)
    assert list(summary) == ["Consolidation", "Pleural Effusion", "Pneumonia", "Pneumothorax", "Edema", "average"]


def test_auc_hand_computed() -> None:
    """y = [1, 0, 1, 0, (uncertain, skipped)], scores [.9, .3, .4, .5, .99]. Positive-negative pairs
    ranked correctly: (.9>.3), (.9>.5), (.4>.3), but not (.4<.5) -> AUC = 3/4."""
    ref = [{"Edema": 1}, {"Edema": 0}, {"Edema": 1}, {}, {"Edema": -1}]
    scores = [{"Edema": 0.9}, {"Edema": 0.3}, {"Edema": 0.4}, {"Edema": 0.5}, {"Edema": 0.99}]
    assert finding_auc("Edema", scores, ref) == (pytest.approx(0.75), 4)
    out = auc_scores(scores, ref)
    assert out == {"Edema": pytest.approx(0.75), "average": pytest.approx(0.75)}
    assert auc_scores([None, None], [{}, {}]) is None
    assert finding_auc("Edema", [{"Edema": 0.1}], [{"Edema": 1}]) == (None, 1)   # one class: undefined
