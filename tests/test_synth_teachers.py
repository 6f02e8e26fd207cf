"""Simulated teachers: interface, determinism, styles, drift events, claims that match the text."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from driftalign.constants import MSCXRT_FINDINGS
from driftalign.data.schema import Study
from driftalign.errors import DatasetError
from driftalign.synth.calibration import world_truths
from driftalign.synth.teacher_phrases import MENTION_PATTERNS
from driftalign.synth.teacher_profiles import DRIFT_TYPES, PROFILES, split_accuracy
from driftalign.synth.teacher_text import parse_yes_no, split_sentences
from driftalign.synth.teachers import (
    TEACHER_NAMES,
    TeacherAnswer,
    count_tokens,
    get_teacher,
    hinted_prompt,
    parse_prompt,
    simulate_trajectories,
    unhinted_prompt,
)
from driftalign.synth.truth import Finding, StudyTruth

NEGATION = re.compile(r"\bno\b", re.IGNORECASE)


def _truth(study_id: str = "synth-000001") -> StudyTruth:
    return StudyTruth(
        study_id=study_id,
        findings=(
            Finding("Pleural Effusion", side="right", location="base", severity="small", detail="meniscus"),
            Finding("Consolidation", side="right", location="lower lobe"),
            Finding("Support Devices", detail="endotracheal tube"),
        ),
        negatives=("Pneumothorax",),
    )


def _study(truth: StudyTruth, split: str = "test") -> Study:
    return Study(study_id=truth.study_id, images=["images/x.png"], labels=truth.labels(), split=split,
                 meta={"truth": truth.to_dict()})


@pytest.fixture(scope="module")
def truths() -> list[StudyTruth]:
    """The test split of a 1,000-study world's truths (200 studies, no images)."""
    return world_truths(1000, seed=0)


@pytest.fixture(scope="module")
def hinted(truths: list[StudyTruth]) -> list[tuple[StudyTruth, str, TeacherAnswer]]:
    return [(t, name, get_teacher(name).answer(t, hinted_prompt(t), seed=0)) for t in truths for name in TEACHER_NAMES]


@pytest.fixture(scope="module")
def unhinted(truths: list[StudyTruth]) -> list[tuple[StudyTruth, str, TeacherAnswer]]:
    prompt = unhinted_prompt()
    return [(t, name, get_teacher(name).answer(t, prompt, seed=0)) for t in truths for name in TEACHER_NAMES]


# --- interface ------------------------------------------------------------------------------------

def test_seven_teachers_in_paper_order() -> None:
    assert TEACHER_NAMES == ("sim-gpt-5", "sim-gemini-2.5", "sim-sonnet-4", "sim-qwen-vl-max", "sim-grok-4",
                             "sim-glm-4.5v", "sim-moonshot")
    assert [get_teacher(n).name for n in TEACHER_NAMES] == list(TEACHER_NAMES)
    assert tuple(PROFILES) == TEACHER_NAMES  # the order fixes each teacher's low-discrepancy sequences


def test_unknown_teacher_lists_the_names() -> None:
    with pytest.raises(ValueError, match=r"unknown simulated teacher 'gpt-4'.*sim-gpt-5.*sim-moonshot"):
        get_teacher("gpt-4")


def test_hinted_prompt_round_trips_through_parse_prompt() -> None:
    truth = _truth()
    prompt = hinted_prompt(truth)
    assert prompt == ("This is a patient's chest DR image. The patient has been diagnosed with consolidation, "
                      "pleural effusion and support devices. Can you find the basis for the diagnosis in the image?")
    assert hinted_prompt(_study(truth)) == prompt
    assert parse_prompt(prompt) == ("hinted", ["Consolidation", "Pleural Effusion", "Support Devices"])


def test_unhinted_prompt_round_trips_through_parse_prompt() -> None:
    assert parse_prompt(unhinted_prompt()) == ("unhinted", list(MSCXRT_FINDINGS))
    assert parse_prompt(unhinted_prompt(["Pneumothorax"])) == ("unhinted", ["Pneumothorax"])


def test_normal_study_is_hinted_with_no_finding() -> None:
    truth = StudyTruth("synth-000002")
    assert parse_prompt(hinted_prompt(truth)) == ("hinted", ["No Finding"])
    answer = get_teacher("sim-gpt-5").answer(truth, hinted_prompt(truth), seed=3)
    assert any(c["finding"] == "No Finding" and c["polarity"] == 1 for c in answer.meta["claims"]) or answer.meta["refusal"]


@pytest.mark.parametrize("prompt, message", [
    ("Describe this chest X-ray.", "prompt not understood"),
    ("This is a patient's chest DR image. The patient has been diagnosed with gout. Can you find the basis for the "
     "diagnosis in the image?", "unknown finding 'gout'"),
])
def test_bad_prompts_fail_clearly(prompt: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        get_teacher("sim-gpt-5").answer(_truth(), prompt, seed=0)


def test_unhinted_prompt_rejects_unknown_findings() -> None:
    with pytest.raises(ValueError, match="CheXpert observations"):
        unhinted_prompt(["Gout"])


# --- determinism ----------------------------------------------------------------------------------

def test_same_inputs_same_answer_and_seed_matters(truths: list[StudyTruth]) -> None:
    for truth in truths[:30]:
        for name in TEACHER_NAMES:
            a = get_teacher(name).answer(truth, hinted_prompt(truth), seed=5)
            b = get_teacher(name).answer(truth, hinted_prompt(truth), seed=5)
            assert (a.text, a.meta) == (b.text, b.meta)
    changed = sum(get_teacher(n).answer(t, unhinted_prompt(), seed=0).text != get_teacher(n).answer(t, unhinted_prompt(), seed=1).text
                  for t in truths[:30] for n in TEACHER_NAMES)
    assert changed > 30


def test_answers_do_not_depend_on_study_order(truths: list[StudyTruth]) -> None:
    studies = [_study(t) for t in truths[:40]]
    forward = simulate_trajectories(studies, TEACHER_NAMES, seed=2)
    backward = simulate_trajectories(studies[::-1], list(TEACHER_NAMES)[::-1], seed=2)
    assert len(forward) == 40 * 7
    as_map = lambda rows: {(r.study_id, r.teacher): (r.response, r.meta) for r in rows}  # noqa: E731
    assert as_map(forward) == as_map(backward)


def test_simulate_trajectories_rows_and_errors() -> None:
    study = _study(_truth())
    rows = simulate_trajectories([study], "all", seed=0, mode="unhinted")
    assert [r.teacher for r in rows] == list(TEACHER_NAMES)
    assert all(r.meta["mode"] == "unhinted" and r.prompt == unhinted_prompt() for r in rows)
    bare = Study(study_id="s1", images=["a.png"], labels={})
    with pytest.raises(DatasetError, match="study 's1': no meta\\['truth'\\]"):
        simulate_trajectories([bare], ["sim-gpt-5"], seed=0)
    with pytest.raises(ValueError, match="mode must be one of"):
        simulate_trajectories([study], ["sim-gpt-5"], seed=0, mode="open")
    with pytest.raises(ValueError, match="unknown simulated teacher"):
        simulate_trajectories([study], ["sim-gpt-4"], seed=0)


# --- meta -----------------------------------------------------------------------------------------

def test_meta_fields_and_token_counts(hinted: list) -> None:
    for _, name, answer in hinted[:70]:
        meta = answer.meta
        assert meta["model"] == name and meta["mode"] == "hinted" and isinstance(meta["refusal"], bool)
        assert meta["completion_tokens"] == count_tokens(answer.text) == -(-len(answer.text.split()) * 13 // 10)
        assert meta["prompt_tokens"] > PROFILES[name].image_tokens


def _check_claims_match_text(answer: TeacherAnswer) -> None:
    sentences = split_sentences(answer.text)
    for item in answer.meta["claims"] + answer.meta["drift_events"]:
        sentence, start, end = sentences[item["sentence"]]
        s, e = item["char_span"]
        assert start <= s < e <= end, (item, sentence)
        assert MENTION_PATTERNS[item["finding"]].search(answer.text[s:e]), (item, sentence)
    for c in answer.meta["claims"]:
        sentence = sentences[c["sentence"]][0]
        if c["finding"] != "No Finding":
            assert bool(NEGATION.search(sentence)) == (c["polarity"] == 0), (c, sentence)
        if c["side"] in ("left", "right"):
            assert c["side"] in sentence, (c, sentence)
        if c["side"] == "bilateral":
            assert re.search(r"bilateral|both", sentence), (c, sentence)


def test_hinted_claims_are_what_the_text_says(hinted: list) -> None:
    for _, _, answer in hinted:
        _check_claims_match_text(answer)


def test_unhinted_claims_are_what_the_text_says(unhinted: list) -> None:
    for _, _, answer in unhinted:
        _check_claims_match_text(answer)
        assert parse_yes_no(answer.text) == {c["finding"]: c["polarity"] for c in answer.meta["claims"]}


def test_hinted_answers_affirm_every_given_diagnosis(hinted: list) -> None:
    for truth, _, answer in hinted:
        if answer.meta["refusal"]:
            continue
        affirmed = {c["finding"] for c in answer.meta["claims"] if c["polarity"] == 1}
        assert set(answer.meta["diagnoses"]) <= affirmed


def test_every_drift_type_occurs(hinted: list) -> None:
    seen = Counter(e["type"] for _, _, a in hinted for e in a.meta["drift_events"])
    assert set(seen) == set(DRIFT_TYPES), seen
    per_teacher = {n: sum(len(a.meta["drift_events"]) for _, t, a in hinted if t == n) for n in TEACHER_NAMES}
    assert per_teacher["sim-gpt-5"] == min(per_teacher.values())


def test_drift_events_are_wrong_against_the_truth(hinted: list) -> None:
    claims_at = lambda a, i: [c for c in a.meta["claims"] if c["sentence"] == i]  # noqa: E731
    for truth, _, answer in hinted:
        for e in answer.meta["drift_events"]:
            here = [c for c in claims_at(answer, e["sentence"]) if c["finding"] == e["finding"]]
            true = truth.finding(e["finding"])
            if e["type"] == "laterality":
                assert here[0]["side"] != true.side
            elif e["type"] == "location":
                assert here[0]["location"] != true.location
            elif e["type"] == "spurious":
                assert true is None and here[0]["polarity"] == 1
            elif e["type"] == "overgeneralisation":
                assert {c["side"] for c in claims_at(answer, e["sentence"])} == {"bilateral"} != {true.side}
            elif e["type"] in ("sign", "omission"):
                assert here and here[0]["polarity"] == 1


def test_refusals_assert_nothing_and_moonshot_refuses_most(hinted: list, unhinted: list) -> None:
    refusals = Counter(name for _, name, a in hinted if a.meta["refusal"])
    assert refusals["sim-moonshot"] == max(refusals.values()) and refusals["sim-moonshot"] >= 10
    for _, _, a in hinted:
        if a.meta["refusal"]:
            assert a.meta["claims"] == [] and a.meta["drift_events"] == []
            assert re.search(r"I'm sorry|not able|not capable", a.text)
            assert not any(p.search(a.text) for p in MENTION_PATTERNS.values())
    assert not any(a.meta["refusal"] for _, _, a in unhinted)


def test_moonshot_preamble(hinted: list, unhinted: list) -> None:
    moonshot = [a for _, n, a in hinted + unhinted if n == "sim-moonshot"]
    assert all(a.text.startswith("As an AI, I'm not capable of making medical diagnoses") for a in moonshot)
    assert not any("As an AI" in a.text for _, n, a in hinted if n != "sim-moonshot")


def test_styles_are_recognisable(hinted: list) -> None:
    def texts(name: str) -> list[str]:
        return [a.text for _, n, a in hinted if n == name and not a.meta["refusal"]]

    assert all("**Impression:**" in t for t in texts("sim-gpt-5"))
    assert sum("\n1. " in t for t in texts("sim-gpt-5")) > 0.6 * len(texts("sim-gpt-5"))
    assert all(t.startswith("### Image analysis:") for t in texts("sim-gemini-2.5"))
    assert all("single frontal projection" in t for t in texts("sim-sonnet-4"))
    assert all(t.startswith("Based on the image") and "\n" not in t for t in texts("sim-qwen-vl-max"))
    assert all(t.splitlines()[-1].startswith("Impression: ") for t in texts("sim-grok-4"))
    assert all("Step 1: " in t and "Final answer:" in t for t in texts("sim-glm-4.5v"))
    words = {n: sum(len(t.split()) for t in texts(n)) / len(texts(n)) for n in TEACHER_NAMES}
    assert words["sim-grok-4"] == min(words.values()) and words["sim-gpt-5"] > 1.5 * words["sim-grok-4"]


def test_evidence_uses_radiology_phrasing() -> None:
    truth = _truth()
    answers = [get_teacher("sim-gpt-5").answer(truth, hinted_prompt(truth), seed=s) for s in range(40)]
    clean = next(a for a in answers if not a.meta["drift_events"] and not a.meta["refusal"])
    assert "blunting of the costophrenic angle with a meniscus sign at the right lung base, consistent with a " \
           "small right pleural effusion." in clean.text
    assert "dense consolidation with air bronchograms in the right lower lobe" in clean.text
    assert "An endotracheal tube is in place" in clean.text
    negatives = [c for c in clean.meta["claims"] if c["polarity"] == 0]
    assert len(negatives) == 3 and all(c["finding"] in ("Pneumothorax", "Edema", "Atelectasis", "Cardiomegaly")
                                       for c in negatives)


def test_hinted_spurious_rate_follows_unhinted_specificity() -> None:
    """Edema is absent from these truths, so spurious-edema frequency = 0.2 * (1 - spec(Edema))."""
    truths = [StudyTruth(f"synth-{i:06d}", (Finding("Pneumothorax", side="left", location="apical"),)) for i in range(1500)]
    for name in ("sim-gpt-5", "sim-sonnet-4", "sim-glm-4.5v"):
        hits = sum(
            any(e["type"] == "spurious" and e["finding"] == "Edema"
                for e in get_teacher(name).answer(t, hinted_prompt(t), seed=0).meta["drift_events"])
            for t in truths
        )
        expected = PROFILES[name].hinted_spurious_rate("Edema")
        assert abs(hits / len(truths) - expected) < 0.03, (name, hits / len(truths), expected)


def test_split_accuracy_by_hand() -> None:
    # acc 0.75, bias 0.05 -> sens 0.80, spec 0.70 (no clipping)
    assert split_accuracy(0.75, 0.05) == pytest.approx((0.80, 0.70))
    # acc 0.97, bias 0.05 -> sens 1.02 clipped to 0.99, the 0.03 moves to spec: 0.92 + 0.03 = 0.95
    assert split_accuracy(0.97, 0.05) == pytest.approx((0.99, 0.95))
    # acc 0.02, bias -0.03 -> spec 0.05, sens -0.01 clipped to 0.01, spec 0.05 - 0.02 = 0.03
    assert split_accuracy(0.02, -0.03) == pytest.approx((0.01, 0.03))


def test_the_project_labeler_reads_the_claims(hinted: list, unhinted: list) -> None:
    """The CheXpert-style labeler reads each answer's claims: same polarity per finding, same side."""
    labeling = pytest.importorskip("driftalign.labeling")
    for _, _, answer in hinted[:420] + unhinted[:420]:
        stance: dict[str, int] = {}
        for c in answer.meta["claims"]:
            stance[c["finding"]] = max(stance.get(c["finding"], 0), c["polarity"])
        labels = labeling.label_report(answer.text)
        assert {f: v for f, v in labels.items() if v is not None and f != "No Finding"} == \
               {f: v for f, v in stance.items() if f != "No Finding"}, answer.text
        mentions = labeling.extract_mentions(answer.text)
        for c in answer.meta["claims"]:
            if c["polarity"] == 1 and c["side"]:
                assert c["side"] in {m.side for m in mentions if m.observation == c["finding"]}, (c, answer.text)
