"""DEER's clinical reward (eq. 1) on MIMIC-CXR-style report text, against hand-computed values.

BLEU-2 derivations use R2Gen-cleaned text (lower case, punctuation stripped, "." a token):
"Small left pleural effusion. No pneumothorax." -> "small left pleural effusion . no pneumothorax ."
(8 tokens, 7 bigrams).
"""

from __future__ import annotations

import math

import pytest

from driftalign.errors import ConfigError
from driftalign.labeling import label_reports
from driftalign.metrics.clinical import clinical_scores
from driftalign.rl.reward import RewardSchedule, bleu2, clinical_reward, reward_terms

REF = "Small left pleural effusion. No pneumothorax."
# right instead of left: 7/8 unigrams, 5/7 bigrams, same length -> BLEU-2 sqrt(5/8) = 0.790569; labels identical
WRONG_SIDE = "Small right pleural effusion. No pneumothorax."
# "no pleural effusion or pneumothorax ." (6 tokens): unigrams 5/6 ("or" misses; "." clipped to 1),
# bigrams 2/5 ("pleural effusion", "pneumothorax ."), brevity penalty exp(1 - 8/6) = 0.716531
# -> BLEU-2 sqrt(5/6 * 2/5) * 0.716531 = 0.413690. Labels: PE 0, Pnx 0, No Finding 1 vs the reference's
# PE 1, Pnx 0: tp 0, fp 1 (No Finding), fn 1 (PE) -> F1 0.
MISSED = "No pleural effusion or pneumothorax."


def test_bleu2_hand_values():
    assert bleu2([WRONG_SIDE, MISSED], [REF, REF]) == pytest.approx([math.sqrt(5 / 8), 0.413690], abs=1e-6)
    assert bleu2([REF], [REF]) == pytest.approx([1.0], abs=1e-6)
    assert bleu2(["", "   "], [REF, REF]) == [0.0, 0.0]              # blank completion: exactly 0
    assert bleu2([], []) == []


def test_reward_phase1_is_label_f1_and_phase2_adds_quarter_bleu2():
    assert clinical_reward([WRONG_SIDE, MISSED], [REF, REF], gamma=0.0) == [1.0, 0.0]
    assert clinical_reward([WRONG_SIDE, MISSED], [REF, REF], gamma=0.25) == pytest.approx(
        [1.0 + 0.25 * math.sqrt(5 / 8), 0.25 * 0.413690], abs=1e-6)   # 1.197642, 0.103422
    terms = reward_terms([WRONG_SIDE, MISSED], [REF, REF])
    assert terms.f1 == [1.0, 0.0] and terms.bleu2 == pytest.approx([0.790569, 0.413690], abs=1e-6)
    assert reward_terms([WRONG_SIDE], [REF], with_bleu=False).bleu2 == [0.0]


def test_uncertain_reference_counts_as_positive_by_default():
    """Reference: PE 1, Pneumonia -1 ('cannot exclude'); completion: PE 1, Pneumonia 1.
    POSITIVE (default): tp 2 -> F1 1. NEGATIVE: tp 1 (PE), fp 1 (Pna) -> 1 / 1.5 = 0.6667.
    OWN: Pna 1 vs -1 is a fp and a fn, tp 1 -> 1 / (1 + 1) = 0.5."""
    ref = ["Left pleural effusion. Cannot exclude pneumonia."]
    comp = ["Left pleural effusion and right lower lobe pneumonia."]
    assert clinical_reward(comp, ref, gamma=0.0) == [1.0]
    assert clinical_reward(comp, ref, gamma=0.0, uncertain="negative") == pytest.approx([2 / 3])
    assert clinical_reward(comp, ref, gamma=0.0, uncertain="own") == [0.5]


def test_mimic_style_normal_reports_and_the_empty_case():
    """Two normal reports with sections: both label No Finding 1 (Cardiomegaly 0 vs not mentioned are
    the same class) -> F1 1. Blank vs blank: nothing positive on either side, 0/0 -> 0, as eval."""
    normal = "FINDINGS: Heart size is normal. Lungs are clear. IMPRESSION: No acute cardiopulmonary process."
    assert clinical_reward(["No acute cardiopulmonary abnormality."], [normal], gamma=0.0) == [1.0]
    assert clinical_reward([""], [""], gamma=0.25) == [0.0]
    assert clinical_reward([""], [normal], gamma=0.25) == [0.0]


def test_reward_f1_is_evals_example_based_f1():
    """One definition: the mean phase-1 reward equals eval's example-based F1 over the same pairs."""
    comps = [WRONG_SIDE, MISSED, "", "Mild pulmonary edema. Possible small left effusion.", "No acute process."]
    refs = [REF, REF, "", "Moderate pulmonary edema and left pleural effusion.", "Right upper lobe pneumonia."]
    for policy in ("positive", "negative", "own"):
        rewards = clinical_reward(comps, refs, gamma=0.0, uncertain=policy)
        expected = clinical_scores(label_reports(comps), label_reports(refs), uncertain=policy)["example_based"]["f1"]
        assert sum(rewards) / len(rewards) == pytest.approx(expected)
        assert rewards[3] == {"positive": 1.0, "negative": pytest.approx(2 / 3), "own": 0.5}[policy]


def test_labeler_is_pluggable_and_errors_are_clear():
    def keyword_labeler(texts):   # effusion -> PE 1, nothing else mentioned
        return [{"Pleural Effusion": 1 if "effusion" in t.lower() else None} for t in texts]

    rewards = clinical_reward(["effusion", "clear"], ["Effusion.", "Effusion."], gamma=0.0, labeler=keyword_labeler)
    assert rewards == [1.0, 0.0]
    with pytest.raises(ValueError, match="2 completions but 1 references"):
        clinical_reward(["a", "b"], ["a"], gamma=0.0)
    with pytest.raises(ValueError, match="gamma"):
        clinical_reward(["a"], ["a"], gamma=-0.1)
    with pytest.raises(ValueError, match="one label dict per text"):
        clinical_reward(["a"], ["a"], gamma=0.0, labeler=lambda texts: [])


def test_two_phase_schedule(tmp_path):
    schedule = RewardSchedule(switch_step=100)
    assert (schedule.gamma_phase1, schedule.gamma_phase2) == (0.0, 0.25)
    assert [schedule.gamma_at(s) for s in (0, 99, 100, 5000)] == [0.0, 0.0, 0.25, 0.25]
    assert RewardSchedule(switch_step=0).gamma_at(0) == 0.25
    yml = tmp_path / "reward.yaml"
    yml.write_text("switch-step: 40\ngamma-phase2: 0.5\n")
    assert RewardSchedule.load(yml).gamma_at(40) == 0.5
    with pytest.raises(ConfigError, match="--switch-step: Field required"):
        RewardSchedule.load(None)
    with pytest.raises(ConfigError, match="--gamma-phase2"):
        RewardSchedule.load(None, switch_step=1, gamma_phase2=-1)
