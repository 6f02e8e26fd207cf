"""The label-free on-policy consensus strategies: self-edit (minimal edit of the student's greedy report)
and self-select (best of K student samples), as pure functions and through `driftalign consensus`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from driftalign.consensus.row import read_consensus
from driftalign.consensus.run import (
    UNEDITED_NEGATIVE,
    WORST_NEGATIVE,
    ConsensusConfig,
    cache_key,
    run_consensus,
    summary_path,
)
from driftalign.consensus.self_edit import claim_verdict, self_edit
from driftalign.consensus.self_select import score_sample, self_select
from driftalign.consensus.vote import KeptClaim, vote
from driftalign.data.dataset import load_dataset
from driftalign.generation.backend import GenerationBackend, GenerationRequest, SamplingConfig
from driftalign.labeling.claims import Claim, extract_claims

# Three teachers: effusion (left) 3/3 present, pneumothorax 2/3 absent, edema 1/3 (not kept).
TEACHERS = {"a": "Small left pleural effusion. No pneumothorax. Mild edema.",
            "b": "Left pleural effusion. No pneumothorax is seen.",
            "c": "There is a left pleural effusion. There is a right pneumothorax."}


@pytest.fixture(scope="module")
def voted():
    result = vote({name: extract_claims(text) for name, text in TEACHERS.items()})
    assert [(k.finding, k.polarity, k.side, k.sentence) for k in result.kept] == [
        ("Pleural Effusion", 1, "left", "Left pleural effusion."),
        ("Pneumothorax", 0, None, "No pneumothorax is seen.")]
    return result


# ---- self-edit ---------------------------------------------------------------------------------


def test_self_edit_removes_wrong_sentences_and_adds_omitted_majority_claims(voted):
    student = ("The heart is normal in size. There is a right pleural effusion. Large left pneumothorax. "
               "No cardiomegaly. Mild pulmonary edema.")
    edit = self_edit(student, voted)
    # wrong side, contradicted, unsupported -> removed; the claim-free sentence and the pertinent negative
    # the majority does not mention stay verbatim, in order; effusion (only stated on the wrong side) and the
    # pneumothorax negative are added with the vote's sentences (no conclusion: at the end)
    assert edit.text == ("The heart is normal in size. No cardiomegaly. Left pleural effusion. "
                         "No pneumothorax is seen.")
    assert [(r["sentence"], r["reason"]) for r in edit.removed] == [
        ("There is a right pleural effusion.", "wrong_side"), ("Large left pneumothorax.", "contradicted"),
        ("Mild pulmonary edema.", "unsupported")]
    assert edit.added == [{"sentence": "Left pleural effusion.", "findings": ["Pleural Effusion"]},
                          {"sentence": "No pneumothorax is seen.", "findings": ["Pneumothorax"]}]
    assert edit.changed and not edit.fallback and edit.details()["student_text"] == student


def test_self_edit_keeps_the_students_markdown_and_adds_before_the_conclusion(voted):
    numbered = ("Findings:\n1. There is a right pleural effusion.\n2. No cardiomegaly.\n3. Mild pulmonary edema.\n\n"
                "Impression:\nNo cardiomegaly.")
    assert self_edit(numbered, voted).text == (
        "Findings:\n1. No cardiomegaly.\n2. Left pleural effusion.\n3. No pneumothorax is seen.\n\n"
        "Impression:\nNo cardiomegaly.")
    bullets = ("**Findings:**\n- No cardiomegaly.\n- There is a right pleural effusion.\n\n"
               "**Impression:**\nNormal heart size.")
    assert self_edit(bullets, voted).text == (
        "**Findings:**\n- No cardiomegaly.\n- Left pleural effusion.\n- No pneumothorax is seen.\n\n"
        "**Impression:**\nNormal heart size.")
    # a section whose every line goes loses its heading; a mid-line conclusion gets the additions right before it
    emptied = ("### Analysis:\n- Large left pneumothorax.\n\n"
               "### Negatives:\n- No cardiomegaly.\n- Left pleural effusion.")
    assert self_edit(emptied, voted).text == (
        "### Negatives:\n- No cardiomegaly.\n- Left pleural effusion.\n- No pneumothorax is seen.")
    assert self_edit("No cardiomegaly. Therefore, no acute change.", voted).text == (
        "No cardiomegaly. Left pleural effusion. No pneumothorax is seen. Therefore, no acute change.")
    one_per_line = "Small left pleural effusion.\nNo cardiomegaly.\nImpression: small effusion."
    assert self_edit(one_per_line, voted).text == (
        "Small left pleural effusion.\nNo cardiomegaly.\nNo pneumothorax is seen.\nImpression: small effusion.")


def test_self_edit_leaves_an_agreeing_report_verbatim(voted):
    text = "Left pleural effusion.\n\nNo pneumothorax.  No cardiomegaly."
    edit = self_edit(text, voted)
    assert edit.text == text and not edit.changed and not edit.removed and not edit.added


def test_self_edit_sign_inconsistency_negatives_on_the_other_side_and_no_finding(voted):
    edit = self_edit("There is an abnormally dark area consistent with a left pleural effusion. No pneumothorax.",
                     voted)
    assert edit.text == "No pneumothorax. Left pleural effusion." and edit.removed[0]["reason"] == "sign"
    edit = self_edit("No right pleural effusion. Small left pleural effusion. No pneumothorax. "
                     "No acute cardiopulmonary process.", voted)
    # "no right effusion" does not contradict the majority's LEFT effusion; "no acute process" does
    assert edit.text == "No right pleural effusion. Small left pleural effusion. No pneumothorax."
    assert [r["claims"][0]["finding"] for r in edit.removed] == ["No Finding"]


def test_claim_verdicts():
    kept = {"Pleural Effusion": KeptClaim("Pleural Effusion", 1, "left", ("a",)),
            "Pneumothorax": KeptClaim("Pneumothorax", 0, None, ("a",))}

    def verdict(finding, polarity, side=None, uncertain="own", k=kept):
        return claim_verdict(Claim(finding, polarity, side, 0, "s."), k, uncertain)

    assert verdict("Pleural Effusion", 1, "left") == verdict("Pleural Effusion", 1) == "agrees"
    assert verdict("Pleural Effusion", 1, "right") == "wrong_side"
    assert verdict("Pleural Effusion", 0) == "contradicted" and verdict("Pleural Effusion", 0, "right") == "neutral"
    assert verdict("Pleural Effusion", -1) == "contradicted"
    assert verdict("Pleural Effusion", -1, uncertain="positive") == "agrees"   # the vote's uncertain policy
    assert verdict("Pneumothorax", 1) == "contradicted" and verdict("Pneumothorax", 0, "left") == "agrees"
    assert verdict("Edema", 1) == verdict("Edema", -1) == "unsupported" and verdict("Edema", 0) == "neutral"
    assert verdict("No Finding", 1) == "contradicted"           # normal, while the majority keeps an effusion
    assert verdict("No Finding", 1, k={"Pneumothorax": kept["Pneumothorax"]}) == "neutral"


def test_self_edit_falls_back_to_the_vote_when_nothing_of_the_student_survives(voted):
    # only wrong claims, no claim at all, or nothing: t+ is the vote's text (documented in consensus.self_edit)
    for student in ("Large left pneumothorax. Mild pulmonary edema.", "The image is a frontal view.", ""):
        edit = self_edit(student, voted)
        assert edit.fallback and edit.text == voted.text == "Left pleural effusion. No pneumothorax is seen."
    no_majority = vote({"a": extract_claims("Edema."), "b": extract_claims("Cardiomegaly.")})
    assert self_edit("Mild edema.", no_majority).text == ""     # nothing to keep, nothing to add: APO skips the row


# ---- self-select -------------------------------------------------------------------------------


def _select(texts: Sequence[str], voted):
    return self_select([extract_claims(t) for t in texts], voted, texts)


def test_self_select_scores_claim_f1_against_the_majority(voted):
    texts = ["No pneumothorax.",                                        # correct 1, omitted 1: F1 2/3
             "Left pleural effusion. No pneumothorax.",                 # F1 1
             "Left pleural effusion. No pneumothorax. Mild edema.",     # correct 2, 1 error: F1 4/5
             "Left pleural effusion. No pneumothorax."]                 # ties with 1: the earlier wins
    chosen = _select(texts, voted)
    assert [s.f1 for s in chosen.scores] == pytest.approx([2 / 3, 1.0, 0.8, 1.0])
    assert [(s.correct, s.errors, s.omitted) for s in chosen.scores] == [(1, 0, 1), (2, 0, 0), (2, 1, 0), (2, 0, 0)]
    assert chosen.best == 1 and chosen.worst == 0 and not chosen.fallback
    # wrong side counts as an error, not as correct; a pertinent negative the vote lacks is neutral
    wrong_side = score_sample(extract_claims("Right pleural effusion. No pneumothorax. No cardiomegaly."), voted)
    assert (wrong_side.correct, wrong_side.errors, wrong_side.omitted) == (1, 1, 1)


def test_self_select_ties_go_to_fewer_errors_then_non_empty_then_earlier(voted):
    texts = ["Left pleural effusion. No pneumothorax. Mild edema. Cardiomegaly.",   # 2 correct, 2 errors: F1 2/3
             "Left pleural effusion."]                                              # 1 correct, 0 errors: F1 2/3
    chosen = _select(texts, voted)
    assert chosen.scores[0].f1 == pytest.approx(chosen.scores[1].f1) and chosen.best == 1 and chosen.worst == 0
    nothing_kept = vote({"a": extract_claims("Edema."), "b": extract_claims("Cardiomegaly.")})
    chosen = _select(["", "No pneumothorax."], nothing_kept)   # both F1 1 (nothing to say, nothing wrong)
    assert chosen.best == 1 and chosen.worst is None            # not worse: no extra negative
    same = _select(["Left pleural effusion.", "Left pleural effusion."], voted)
    assert same.best == 0 and same.worst is None


def test_self_select_falls_back_to_the_vote_when_every_sample_is_wrong(voted):
    chosen = _select(["Mild edema.", "The image is a frontal view.", "Right pneumothorax."], voted)
    assert [s.f1 for s in chosen.scores] == [0.0, 0.0, 0.0]
    assert chosen.fallback and chosen.best == 1 and chosen.worst == 2   # the stage then writes the vote's text


# ---- the stage ---------------------------------------------------------------------------------


class ScriptedBackend(GenerationBackend):
    """Answers every request with `texts` (the first num_return_sequences of them); records what it was asked."""

    def __init__(self, texts: list[str]):
        super().__init__(SamplingConfig())
        self.texts, self.prompts, self.samplings = texts, [], []

    def generate(self, requests: Sequence[GenerationRequest],
                 sampling: SamplingConfig | None = None) -> list[list[str]]:
        self.prompts += [r.prompt for r in requests]
        self.samplings.append(sampling)
        return [list(self.texts[:sampling.num_return_sequences]) for _ in requests]


@pytest.fixture()
def fake_model(tmp_path: Path) -> Path:
    model = tmp_path / "student"
    model.mkdir()
    (model / "config.json").write_text("{}")   # only hashed: the scripted backend stands in for the model
    return model


def test_self_edit_stage_uses_the_students_prompt_greedy_and_adds_the_unedited_negative(mini_world, fake_model,
                                                                                         tmp_path):
    # mini_world's teachers: left effusion 2/3, no pneumothorax 2/3, edema 1/3
    student = "There is a right pleural effusion. No pneumothorax. Mild pulmonary edema."
    backend = ScriptedBackend([student])
    cfg = ConsensusConfig(data=mini_world["data"], out=tmp_path / "se.jsonl", strategy="self-edit", model=fake_model,
                          edit_pair=True, temperature=0.5, do_sample=True)
    assert run_consensus(cfg, backend=backend).rows == 6
    assert backend.prompts == [cfg.prompt] * 6                 # the student's own prompt, no trajectories
    assert all(not s.do_sample and s.num_return_sequences == 1 for s in backend.samplings)   # greedy regardless
    for row in read_consensus(cfg.out):
        assert "right pleural effusion" not in row.chosen and "edema" not in row.chosen.lower()
        assert "left pleural effusion" in row.chosen.lower() and "No pneumothorax." in row.chosen
        assert row.details["student_text"] == student and len(row.details["removed"]) == 2
        assert [n.teacher for n in row.negatives] == ["sim-a", "sim-b", "sim-c", UNEDITED_NEGATIVE]
        assert row.negatives[-1].response == student and 0 < row.negatives[-1].drift <= 1
        assert UNEDITED_NEGATIVE not in row.teachers


def test_self_select_stage_samples_k_and_adds_the_worst_negative(mini_world, fake_model, tmp_path):
    samples = ["Mild pulmonary edema.", "Left pleural effusion. No pneumothorax.", "Right pneumothorax."]
    backend = ScriptedBackend(samples)
    cfg = ConsensusConfig(data=mini_world["data"], out=tmp_path / "ss.jsonl", strategy="self-select", model=fake_model,
                          k=3, temperature=0.7, select_worst_negative=True)
    run_consensus(cfg, backend=backend)
    assert all(s.do_sample and s.num_return_sequences == 3 and s.temperature == 0.7 for s in backend.samplings)
    for row in read_consensus(cfg.out):
        assert row.chosen == samples[1] and row.details["selected"] == 1
        assert [s["f1"] for s in row.details["scores"]] == pytest.approx([0.0, 1.0, 0.0])
        assert row.details["worst"] == 2       # ties with sample 0 (F1 0, 1 error): the later is the worst
        assert row.negatives[-1].teacher == WORST_NEGATIVE and row.negatives[-1].response == samples[2]


def test_cache_key_covers_the_new_options(mini_world, fake_model, tmp_path):
    ds = load_dataset(mini_world["data"], verify_images=False)

    def key(**kw):
        return cache_key(ConsensusConfig(data=mini_world["data"], out=tmp_path / "x.jsonl", model=fake_model, **kw),
                         ds, fake_model)

    assert key(strategy="self-edit") != key(strategy="self-edit", edit_pair=True)
    assert key(strategy="self-edit") == key(strategy="self-edit", temperature=0.3)   # greedy ignores it
    assert key(strategy="self-edit") != key(strategy="self-edit", repetition_penalty=1.2)
    base = key(strategy="self-select")
    assert len({base, key(strategy="self-select", k=4), key(strategy="self-select", seed=1),
                key(strategy="self-select", temperature=0.5), key(strategy="self-select", select_worst_negative=True),
                key(strategy="self-edit")}) == 6
    assert key(strategy="model") == key(strategy="model", k=4, edit_pair=True)  # other strategies' keys unchanged


def test_self_strategies_with_the_real_tiny_student(mini_world, tmp_path):
    """Generation through the transformers backend (random tiny student), rows, cache hit on rerun."""
    options = {"self-edit": {"edit_pair": True}, "self-select": {"k": 3, "select_worst_negative": True}}
    for strategy, extra in options.items():
        cfg = ConsensusConfig(data=mini_world["data"], out=tmp_path / f"{strategy}.jsonl", strategy=strategy,
                              model=mini_world["student"], max_new_tokens=8, batch_size=6, **extra)
        summary = run_consensus(cfg)
        rows = read_consensus(cfg.out)
        assert summary.rows == len(rows) == 6 and not summary.cache_hit
        assert json.loads(summary_path(cfg.out).read_text())["strategy"] == strategy
        again = run_consensus(cfg)
        assert again.cache_hit and again.rows == 6
        for row in rows:
            assert row.strategy == strategy and row.chosen.strip()
            teachers = [n for n in row.negatives if n.teacher.startswith("sim-")]
            assert len(teachers) == 3
            if strategy == "self-edit":
                student = row.details["student_text"]
                # a random student states no majority claim: t+ falls back to the vote, which says "effusion"
                assert "pleural effusion" in row.chosen.lower()
                has_pair = row.details["changed"] and bool(student.strip())
                assert [n.teacher for n in row.negatives[3:]] == ([UNEDITED_NEGATIVE] if has_pair else [])
            else:
                assert len(row.details["samples"]) == len(row.details["scores"]) == 3
                # a random student's samples state no majority claim: F1 0 everywhere, so t+ is the vote's text
                assert row.details["fallback"] and "pleural effusion" in row.chosen.lower()
                worst = row.details["worst"]
                assert [(n.teacher, n.response) for n in row.negatives[3:]] == (
                    [(WORST_NEGATIVE, row.details["samples"][worst])] if worst is not None else [])


def test_apo_reads_the_extra_negative_and_trains_on_it(mini_world, fake_model, tmp_path):
    """APO (training/apo.py) takes the student's own negative like a teacher's: its name joins the teacher list,
    every weight scheme gives it a weight, and one training step runs."""
    from driftalign.training.apo import APOConfig, apo_rows, run_apo

    student = "There is a right pleural effusion. No pneumothorax. Mild pulmonary edema."
    cfg = ConsensusConfig(data=mini_world["data"], out=tmp_path / "se.jsonl", strategy="self-edit", model=fake_model,
                          edit_pair=True)
    run_consensus(cfg, backend=ScriptedBackend([student]))
    ds = load_dataset(mini_world["data"], verify_images=False)
    for scheme in ("uniform", "drift", "errors"):
        rows = apo_rows(read_consensus(cfg.out), ds, "train", scheme, False, cfg.out)
        assert all(r.teachers[-1] == UNEDITED_NEGATIVE and r.rejected[-1] == student for r in rows)
        assert all(len(r.weights) == len(r.rejected) == 4 for r in rows)
        if scheme == "errors":   # 2 wrong sentences, like sim-c's 2 errors: weight 1, not dropped
            assert all(r.weights[-1] > 0 for r in rows)
    summary = run_apo(APOConfig(model=mini_world["student"], data=mini_world["data"], out=tmp_path / "apo",
                                consensus=cfg.out, prompt=cfg.prompt, max_steps=1, batch_size=2, lr=1e-3,
                                logging_steps=1, save_steps=10, seed=0))
    assert summary.global_step == 1


def test_consensus_quality_reports_words_per_text(mini_world) -> None:
    from driftalign.consensus.quality import consensus_quality
    from driftalign.data.dataset import load_dataset

    ds = load_dataset(mini_world["data"])
    row = {"study_id": "s000", "chosen": "No effusion.", "teachers": {"sim-a": {"drift": 0.0}},
           "negatives": [{"teacher": "sim-a", "response": "Small left pleural effusion. No pneumothorax.", "refusal": False}]}
    quality = consensus_quality(ds, [row])
    assert quality["consensus"]["words"] == 2.0 and quality["teachers"]["sim-a"]["words"] == 6.0


class NoBackend(GenerationBackend):
    """Fails if asked: a run that should read every report from the generation cache."""

    def __init__(self):
        super().__init__(SamplingConfig())

    def generate(self, requests, sampling=None):
        raise AssertionError(f"generated {len(requests)} reports that the cache holds")


def test_runs_that_differ_only_in_what_they_make_of_the_reports_generate_once(mini_world, fake_model, tmp_path):
    """self-edit and self-edit --edit-pair read the same greedy reports; self-select and --select-worst-negative
    the same samples (generation.cache); a change of decoding generates again."""
    from driftalign.consensus.run import generation_key, generations_path

    student = "There is a right pleural effusion. No pneumothorax. Mild pulmonary edema."
    first = ScriptedBackend([student])
    edit = ConsensusConfig(data=mini_world["data"], out=tmp_path / "se.jsonl", strategy="self-edit", model=fake_model)
    run_consensus(edit, backend=first)
    assert len(first.prompts) == 6
    pair = edit.model_copy(update={"out": tmp_path / "se-pair.jsonl", "edit_pair": True})
    run_consensus(pair, backend=NoBackend())
    assert all(r.details["student_text"] == student and r.negatives[-1].teacher == UNEDITED_NEGATIVE
               for r in read_consensus(pair.out))
    penalised = edit.model_copy(update={"out": tmp_path / "se-rep.jsonl", "repetition_penalty": 1.2})
    with pytest.raises(AssertionError, match="generated 6 reports"):
        run_consensus(penalised, backend=NoBackend())

    samples = ["Mild pulmonary edema.", "Left pleural effusion. No pneumothorax.", "Right pneumothorax."]
    select = ConsensusConfig(data=mini_world["data"], out=tmp_path / "ss.jsonl", strategy="self-select",
                             model=fake_model, k=3)
    run_consensus(select, backend=ScriptedBackend(samples))
    worst = select.model_copy(update={"out": tmp_path / "ss-worst.jsonl", "select_worst_negative": True})
    run_consensus(worst, backend=NoBackend())
    assert all(r.details["samples"] == samples and r.negatives[-1].teacher == WORST_NEGATIVE
               for r in read_consensus(worst.out))
    ds = load_dataset(mini_world["data"], verify_images=False)
    cached = [line for line in generations_path(select, generation_key(select, ds, fake_model)).read_text().splitlines()]
    assert len(cached) == 6 and json.loads(cached[0])["texts"] == samples


def test_max_studies_writes_t_plus_for_exactly_the_studies_apo_trains_on(mini_world, tmp_path):
    from driftalign.training.apo import apo_rows, studies_subset

    ds = load_dataset(mini_world["data"], verify_images=False)
    full = ConsensusConfig(data=mini_world["data"], out=tmp_path / "vote.jsonl", strategy="vote")
    run_consensus(full)
    rows = apo_rows(read_consensus(full.out), ds, "train", "uniform", False, full.out)
    for seed in (0, 1, 2):
        scoped = full.model_copy(update={"out": tmp_path / f"vote-{seed}.jsonl", "max_studies": 3, "seed": seed})
        assert run_consensus(scoped).rows == 3
        trained = [r.study_id for r in studies_subset(rows, 3, seed)]
        assert [r.study_id for r in read_consensus(scoped.out)] == trained
    ss = full.model_copy(update={"max_studies": 3})
    assert cache_key(ss, ds, None) != cache_key(full, ds, None)


def test_a_resumed_run_puts_the_reports_of_its_finished_rows_in_the_cache(mini_world, fake_model, tmp_path):
    """Rows written before a kill carry the student's texts; the resumed run adds them to the cache, so a
    sibling run (--edit-pair) generates nothing for them either."""
    student = "Left pleural effusion. Mild pulmonary edema."
    edit = ConsensusConfig(data=mini_world["data"], out=tmp_path / "se.jsonl", strategy="self-edit", model=fake_model)

    class Killed(ScriptedBackend):
        def generate(self, requests, sampling=None):
            if self.prompts:
                raise KeyboardInterrupt
            return super().generate(requests, sampling)

    with pytest.raises(KeyboardInterrupt):
        run_consensus(edit.model_copy(update={"batch_size": 2}), backend=Killed([student]))
    partial = tmp_path / "se.jsonl.partial"
    assert len(partial.read_text().splitlines()) == 2
    from driftalign.consensus.run import generation_key, generations_path

    ds = load_dataset(mini_world["data"], verify_images=False)
    cache_file = generations_path(edit, generation_key(edit, ds, fake_model))
    cache_file.unlink()                              # as a run of the code before the cache existed left it
    rest = ScriptedBackend([student])
    run_consensus(edit, backend=rest)
    assert len(rest.prompts) == 4                    # only the studies the partial did not have
    run_consensus(edit.model_copy(update={"out": tmp_path / "pair.jsonl", "edit_pair": True}), backend=NoBackend())
    assert len(cache_file.read_text().splitlines()) == 6
