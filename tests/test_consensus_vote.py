"""Claim-level vote, drift scores and teacher weights, on hand-built claims (no labeler needed)."""

from __future__ import annotations

import pytest

from driftalign.consensus import agreement_record, drift_from, teacher_weights, vote
from driftalign.consensus.claims import join_sentences
from driftalign.consensus.weights import DRIFT_WEIGHT_MAX, drift_weights
from driftalign.labeling.claims import Claim, stance


def C(finding, polarity, idx, sentence, side=None):
    return Claim(finding, polarity, side, idx, sentence)


def _three_teachers():
    """a, b agree on a left effusion and no pneumothorax; c says right effusion + pneumothorax + edema."""
    return {
        "a": [C("Pleural Effusion", 1, 0, "Small left pleural effusion.", "left"),
              C("Pneumothorax", 0, 1, "No pneumothorax.")],
        "b": [C("Pleural Effusion", 1, 0, "There is a left effusion with edema.", "left"),
              C("Edema", 1, 0, "There is a left effusion with edema."),
              C("Pneumothorax", 0, 1, "No pneumothorax is seen.")],
        "c": [C("Pleural Effusion", 1, 0, "Right pleural effusion.", "right"),
              C("Pneumothorax", 1, 1, "Right pneumothorax.", "right"),
              C("Edema", 1, 2, "Pulmonary edema.")],
    }


def test_vote_keeps_majority_claims_with_majority_side_and_consistent_sentences():
    result = vote(_three_teachers())
    assert result is not None and result.n_teachers == 3
    # Effusion: 3/3 positive; Edema: 2/3 positive (b, c); Pneumothorax: 0 by a, b (2/3) -> negative kept.
    assert result.stance == {"Pleural Effusion": 1, "Edema": 1, "Pneumothorax": 0}
    kept = {k.finding: k for k in result.kept}
    assert kept["Pleural Effusion"].side == "left"          # 2 of 3 supporters say left
    assert kept["Pleural Effusion"].supporters == ("a", "b", "c")
    assert kept["Edema"].supporters == ("b", "c")
    # Effusion: a's and b's sentences name the majority side (c's says right); a's states
    # one claim, b's two -> a's, the more specific one. Edema: b's sentence (2 claims) vs c's "Pulmonary edema."
    # (1 claim) -> c's. Pneumothorax negative: a's and b's tie on consistency, specificity and teacher
    # agreement (a 2/2, b 3/3) -> the shorter: a's "No pneumothorax."
    assert kept["Pleural Effusion"].teacher == "a"
    assert kept["Edema"].teacher == "c" and kept["Edema"].sentence == "Pulmonary edema."
    assert kept["Pneumothorax"].teacher == "a"
    # positives in CheXpert order (Edema before Pleural Effusion), then negatives
    assert result.text == "Pulmonary edema. Small left pleural effusion. No pneumothorax."


def test_a_sentence_stating_two_kept_claims_covers_both():
    teachers = {
        "a": [C("Edema", 1, 0, "Edema with effusion."), C("Pleural Effusion", 1, 0, "Edema with effusion.")],
        "b": [C("Edema", 1, 0, "Edema and effusion are seen."), C("Pleural Effusion", 1, 0, "Edema and effusion are seen.")],
    }
    result = vote(teachers)
    assert result.text == "Edema with effusion."
    assert [k.sentence for k in result.kept] == ["Edema with effusion.", "Edema with effusion."]


def test_agreement_records_per_teacher():
    result = vote(_three_teachers())
    a, c = result.agreement["a"], result.agreement["c"]
    assert a == {"claims": 2, "kept": 2, "agreement": 1.0, "contradictions": 0, "unsupported": 0,
                 "omissions": 1, "drift": pytest.approx(1 - 2 / 3)}
    # c: effusion kept, edema kept, pneumothorax contradicts -> 2/3 kept, 1 contradiction
    assert c["kept"] == 2 and c["contradictions"] == 1 and c["agreement"] == pytest.approx(2 / 3)
    # c's set {(PE,1),(Pnx,1),(Ede,1)} vs t+ {(PE,1),(Ede,1),(Pnx,0)}: 2 shared, 4 in union -> 0.5
    assert c["drift"] == pytest.approx(0.5)
    assert result.agreement["b"]["drift"] == 0.0


def test_no_majority_and_no_teachers():
    split = {"a": [C("Edema", 1, 0, "Edema.")], "b": [C("Edema", 0, 0, "No edema.")]}
    result = vote(split)
    assert result.text == "" and result.kept == []
    assert vote({}) is None


def test_vote_is_deterministic_under_teacher_order():
    teachers = _three_teachers()
    reordered = {k: teachers[k] for k in ("c", "a", "b")}
    assert vote(teachers).text == vote(reordered).text


def test_stance_uses_chexpert_priority():
    claims = [C("Edema", 0, 0, "No edema."), C("Edema", -1, 1, "Possible edema."), C("Edema", 1, 2, "Edema.")]
    assert stance(claims) == {"Edema": 1}
    assert stance(claims[:2]) == {"Edema": -1}


def test_drift_is_jaccard_distance():
    assert drift_from({}, {}) == 0.0
    assert drift_from({"Edema": 1}, {"Edema": 1}) == 0.0
    assert drift_from({"Edema": 1}, {"Edema": 0}) == 1.0
    # {(E,1),(PE,1)} vs {(E,1)}: 1 shared / 2 -> 0.5
    assert drift_from({"Edema": 1, "Pleural Effusion": 1}, {"Edema": 1}) == 0.5
    rec = agreement_record({}, {"Edema": 1})
    assert rec["agreement"] == 0.0 and rec["omissions"] == 1 and rec["drift"] == 1.0


def test_drift_weights_formula():
    # d = [0, 0.5, 1.0]: mean 0.5 -> [0, 1, 2]
    assert drift_weights([0.0, 0.5, 1.0]) == [0.0, 1.0, 2.0]
    # d = [0.1, 0.1, 0.1, 1.0]: mean 0.325 -> [0.3077, ..., 3.0769 clipped to 3]
    w = drift_weights([0.1, 0.1, 0.1, 1.0])
    assert w[:3] == pytest.approx([0.1 / 0.325] * 3) and w[3] == DRIFT_WEIGHT_MAX
    assert drift_weights([0.0, 0.0]) == [0.0, 0.0]          # everyone agrees with t+: nothing to push down
    assert teacher_weights([0.0, 0.7], "uniform") == [1.0, 1.0]
    assert teacher_weights([0.0, 0.7], "drift") == [0.0, 1.0 * 0.7 / 0.35]
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        drift_weights([1.5])
    with pytest.raises(ValueError):
        teacher_weights([0.1], "softmax")


def test_join_sentences_adds_punctuation_and_strips_list_decoration():
    assert join_sentences(["No edema", " Small effusion. ", ""]) == "No edema. Small effusion."
    assert join_sentences(["- There is no atelectasis.", "2. **Right** effusion", "Step 3: No pneumothorax."]) == (
        "There is no atelectasis. Right effusion. No pneumothorax.")


def test_claim_without_a_clean_sentence_stays_unstated():
    """Edema is kept (a, b) but a's sentence also asserts pneumonia and b's cardiomegaly (minority claims)."""
    teachers = {
        "a": [C("Edema", 1, 0, "Edema and pneumonia."), C("Pneumonia", 1, 0, "Edema and pneumonia."),
              C("Pneumothorax", 0, 1, "No pneumothorax.")],
        "b": [C("Edema", 1, 0, "Edema, cardiomegaly."), C("Cardiomegaly", 1, 0, "Edema, cardiomegaly."),
              C("Pneumothorax", 0, 1, "No pneumothorax.")],
        "c": [C("Pneumothorax", 0, 0, "No pneumothorax.")],
    }
    result = vote(teachers)
    assert result.stance == {"Edema": 1, "Pneumothorax": 0}
    assert result.text == "No pneumothorax."
    assert [k.sentence for k in result.kept] == ["", "No pneumothorax."]


def test_positive_f1_hand_computed():
    """Study 1: pred {Edema, PE}, truth {Edema, Pnx} -> tp 1, fp 1, fn 1; study 2: pred {}, truth {Edema} -> fn 1.
    P = 1/2, R = 1/3, F1 = 2 * (1/2 * 1/3) / (1/2 + 1/3) = 0.4."""
    from driftalign.consensus.quality import positive_f1

    pred = [{"Edema": 1, "Pleural Effusion": 1, "Pneumothorax": 0}, {"Edema": -1}]
    true = [{"Edema": 1, "Pneumothorax": 1}, {"Edema": 1}]
    assert positive_f1(pred, true) == pytest.approx({"precision": 0.5, "recall": 1 / 3, "f1": 0.4})


def test_sign_inconsistent_sentences_are_never_chosen():
    """An opacity called dark/lucent is the paper's sign drift; a pneumothorax may be lucent."""
    from driftalign.labeling.claims import sign_inconsistent

    dark = "An abnormally dark, hyperlucent area is in keeping with pneumonia in the left lower lobe."
    white = "Dense consolidation in keeping with pneumonia in the left lower lobe."
    assert sign_inconsistent([C("Pneumonia", 1, 0, dark)])
    assert not sign_inconsistent([C("Pneumonia", 1, 0, white)])
    assert not sign_inconsistent([C("Pneumothorax", 1, 0, "A hyperlucent periphery: right pneumothorax.")])
    assert not sign_inconsistent([C("Pneumonia", 0, 0, "No dark area and no pneumonia.")])
    claims = {
        "a": [C("Pneumonia", 1, 0, dark)],          # the most agreeable teacher, but its sentence drifts
        "b": [C("Pneumonia", 1, 0, white)],
        "c": [C("Pneumonia", 1, 0, dark)],
    }
    assert vote(claims).text == white
    only_dark = {t: [C("Pneumonia", 1, 0, dark)] for t in "abc"}
    result = vote(only_dark)
    assert result.text == "" and [k.finding for k in result.kept] == ["Pneumonia"]  # kept, but unstated


def test_errors_count_contradictions_and_spurious_findings_not_style():
    from driftalign.consensus.claims import errors_against

    consensus = {"Pleural Effusion": 1, "Pneumothorax": 0}
    # right, plus a pertinent negative t+ leaves out: 0 errors (drift would call this 1/3 away)
    assert errors_against({"Pleural Effusion": 1, "Edema": 0}, consensus) == 0
    # contradiction (pneumothorax present) + spurious finding (edema) + uncertain spurious (-1)
    assert errors_against({"Pleural Effusion": 1, "Pneumothorax": 1, "Edema": 1, "Pneumonia": -1}, consensus) == 3
    # omitting t+'s claims is not an error
    assert errors_against({}, consensus) == 0


def test_error_weights_formula():
    """e = [0, 2, 4, 0]: mean over the wrong ones = 3 -> w = [0, 2/3, 4/3, 0]; e = [1, 1, 1, 10]: mean 3.25
    -> 1/3.25 = 4/13, 10/3.25 = 3.08 clipped to 3; none wrong -> all 0."""
    from driftalign.consensus.weights import error_weights

    assert error_weights([0, 2, 4, 0]) == pytest.approx([0.0, 2 / 3, 4 / 3, 0.0])
    assert error_weights([1, 1, 1, 10], w_max=3.0) == pytest.approx([4 / 13, 4 / 13, 4 / 13, 3.0])  # mean 3.25; 10/3.25 clips
    assert error_weights([0, 0]) == [0.0, 0.0]
    assert teacher_weights([0.1, 0.5], "errors", errors=[0, 3]) == pytest.approx([0.0, 1.0])
    with pytest.raises(ValueError):
        teacher_weights([0.1], "errors")


def test_select_picks_the_least_wrong_teacher_then_the_most_complete():
    from driftalign.consensus.select import select

    claims = _three_teachers()
    voted = vote(claims)  # kept: left effusion, edema (b + c), no pneumothorax
    assert sorted((k.finding, k.polarity) for k in voted.kept) == [
        ("Edema", 1), ("Pleural Effusion", 1), ("Pneumothorax", 0)]
    # a: 0 errors, omits edema; b: 0 errors, 0 omissions; c: 1 error (pneumothorax present) -> b
    assert select(claims, voted) == "b"
    claims["b"] = [c for c in claims["b"] if c.finding != "Edema"]  # now a and b tie (0, 1) -> name
    assert select(claims, voted) == "a"
    claims["a"] = [C("Pneumonia", 1, 0, "Pneumonia.")] + claims["a"]  # a asserts a finding not kept
    assert select(claims, voted) == "b"
