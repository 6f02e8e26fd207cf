"""`driftalign consensus` end to end: vote on the synthetic world, model/hybrid through a backend, caching."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from driftalign.cli.app import main
from driftalign.consensus.hybrid import hybrid
from driftalign.consensus.model import consensus_prompt
from driftalign.consensus.row import read_consensus
from driftalign.consensus.run import ConsensusConfig, run_consensus, summary_path
from driftalign.consensus.vote import vote
from driftalign.errors import ConfigError
from driftalign.generation.backend import GenerationBackend, GenerationRequest, SamplingConfig
from driftalign.labeling.claims import extract_claims


class FixedBackend(GenerationBackend):
    """A backend that answers every request with the same text and records the prompts it saw."""

    def __init__(self, text: str):
        super().__init__(SamplingConfig())
        self.text, self.prompts = text, []

    def generate(self, requests: Sequence[GenerationRequest], sampling: SamplingConfig | None = None) -> list[list[str]]:
        self.prompts += [r.prompt for r in requests]
        return [[self.text] for _ in requests]


@pytest.fixture(scope="module")
def vote_run(synth_world: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("consensus") / "vote.jsonl"
    return run_consensus(ConsensusConfig(data=synth_world, out=out, strategy="vote", split="all")), out


def test_vote_rows_carry_supporters_drift_and_negatives(vote_run, synth_world):
    summary, out = vote_run
    rows = read_consensus(out)
    assert summary.rows == len(rows) > 0
    row = rows[0]
    assert row.strategy == "vote" and row.synthetic and row.chosen
    assert row.cache_key == json.loads(summary_path(out).read_text())["cache_key"]
    n_teachers = len({t for r in rows for t in r.teachers})
    assert n_teachers == 7
    for r in rows:
        for finding, supporters in r.supporters.items():
            answering = [t for t, rec in r.teachers.items() if not rec.get("refusal")]
            assert 2 * len(supporters) > len(answering), (r.study_id, finding)  # majority by construction
        for n in r.negatives:
            assert 0.0 <= n.drift <= 1.0
            assert n.drift == r.teachers[n.teacher]["drift"]


def test_vote_consensus_beats_the_average_teacher_on_synthetic_labels(vote_run):
    summary, _ = vote_run
    q = summary.quality
    teacher_f1 = [v["f1"] for v in q["teachers"].values()]
    assert q["consensus"]["f1"] > sum(teacher_f1) / len(teacher_f1)
    assert set(q["drift"]) == set(q["teachers"])


def test_second_run_is_a_cache_hit_and_changed_options_miss(vote_run, synth_world):
    summary, out = vote_run
    again = run_consensus(ConsensusConfig(data=synth_world, out=out, strategy="vote", split="all"))
    assert again.cache_hit and again.rows == summary.rows
    other = run_consensus(ConsensusConfig(data=synth_world, out=out, strategy="vote", split="train"))
    assert not other.cache_hit and other.rows < summary.rows


def test_interrupted_run_resumes_from_partial(synth_world, tmp_path):
    out = tmp_path / "c.jsonl"
    full = run_consensus(ConsensusConfig(data=synth_world, out=out, strategy="vote", split="train"))
    rows = out.read_text().splitlines()
    key = json.loads(rows[0])["cache_key"]
    out.unlink()
    summary_path(out).unlink()
    partial = out.with_name(out.name + ".partial")
    partial.write_text("".join(json.dumps({"study_id": json.loads(r)["study_id"], "cache_key": key,
                                           "row": json.loads(r)}) + "\n" for r in rows[:5]) + '{"study_id": "x", "ca')
    resumed = run_consensus(ConsensusConfig(data=synth_world, out=out, strategy="vote", split="train"))
    assert resumed.rows == full.rows and not partial.exists()
    assert out.read_text().splitlines() == rows


def test_model_strategy_puts_teacher_trajectories_in_the_prompt(synth_world, tmp_path):
    student = tmp_path / "student"
    student.mkdir()
    (student / "config.json").write_text("{}")  # only hashed: the fixed backend stands in for the model
    backend = FixedBackend("Small left pleural effusion. No pneumothorax.")
    cfg = ConsensusConfig(data=synth_world, out=tmp_path / "m.jsonl", strategy="model", model=student, split="val")
    summary = run_consensus(cfg, backend=backend)
    rows = read_consensus(cfg.out)
    assert summary.rows == len(rows) == len(backend.prompts)
    assert all(r.chosen == backend.text for r in rows)
    assert "[1] " in backend.prompts[0] and "[2] " in backend.prompts[0]
    assert backend.prompts[0].startswith(cfg.prompt)
    assert "sim-gpt-5" not in backend.prompts[0]  # anonymised


def test_hybrid_keeps_agreeing_model_sentences_and_falls_back_to_the_vote():
    teachers = {
        "a": extract_claims("Small left pleural effusion. No pneumothorax."),
        "b": extract_claims("Left pleural effusion. No pneumothorax is seen."),
        "c": extract_claims("Left pleural effusion. There is a right pneumothorax."),
    }
    voted = vote(teachers)
    model_text = "There is a left pleural effusion. Large right pneumothorax. Cardiomegaly."
    merged = hybrid(extract_claims(model_text), voted)
    # effusion sentence agrees -> kept from the model; pneumothorax contradicts -> vote's sentence;
    # cardiomegaly is unsupported -> dropped
    assert merged.text == "There is a left pleural effusion. No pneumothorax."
    assert merged.sources == {"Pleural Effusion": "model", "Pneumothorax": "vote"}
    assert merged.conflicts == 1 and merged.unsupported == 1


def test_consensus_prompt_layout():
    text = consensus_prompt("Describe.", ["A  b.", "C" * 3000], max_chars=10)
    assert text.startswith("Describe.\n\nHere are 2 reports")
    assert "[1] A b." in text and "[2] CCCCCCCCCC\n" in text


def test_model_strategy_without_model_fails_clearly(synth_world, tmp_path):
    with pytest.raises(ConfigError, match="needs --model"):
        ConsensusConfig.load(None, data=synth_world, out=tmp_path / "x.jsonl", strategy="hybrid")
    with pytest.raises(SystemExit) as exc:
        main(["consensus", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "x.jsonl"), "--strategy", "vote"])
    assert exc.value.code == 2


def test_select_strategy_needs_no_model_and_keeps_one_teacher_trajectory(synth_world, tmp_path):
    from driftalign.data import load_dataset

    out = tmp_path / "select.jsonl"
    summary = run_consensus(ConsensusConfig(data=synth_world, out=out, strategy="select", split="all"))
    rows = read_consensus(out)
    assert summary.rows == len(rows) > 0
    responses = {(t.study_id, t.teacher): t.response for t in load_dataset(synth_world).trajectories}
    for row in rows:
        teacher = row.details["selected_teacher"]
        assert row.chosen == responses[(row.study_id, teacher)]  # a real trajectory, verbatim
        assert row.teachers[teacher]["contradictions"] == 0 or all(
            rec["contradictions"] >= row.teachers[teacher]["contradictions"] for rec in row.teachers.values())
