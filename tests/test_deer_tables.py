"""DEER's Table 1 / Table 7 layouts read from a multi-seed run directory (hand-written files, hand values)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from apo_helpers import build_mini_dataset

from driftalign.config import save_config
from driftalign.pipeline.deer_tables import TABLE7, deer_tables, markdown, zero_std_shares
from driftalign.training.grpo import DiTPOConfig


def _eval(p: float, r: float, f1: float, bleu4: float) -> dict:
    return {"clinical": {"micro": {"precision": p, "recall": r, "f1": f1}, "example_based": {"f1": f1 + 0.1}},
            "nlg": {"BLEU-4": bleu4, "METEOR": None, "ROUGE-L": 0.5}}


def _seed(out: Path, seed: int, data: Path, frac: list[float], evals: dict[str, dict]) -> None:
    root = out / f"seed-{seed}"
    (root / "eval").mkdir(parents=True)
    for name, metrics in evals.items():
        (root / "eval" / f"{name}.json").write_text(json.dumps(metrics))
    for name, random_fraction in (("grpo-a", None), ("grpo-half", 0.5)):
        run = root / name
        run.mkdir()
        save_config(DiTPOConfig(model=root / "spd" / "final", data=data, out=run, switch_step=2, seed=seed,
                                random_fraction=random_fraction), run)
        (run / "grpo_data.json").write_text("{}")
        (run / "trainer_log.jsonl").write_text("".join(
            json.dumps({"step": i + 1, "loss": 0.0, "frac_reward_zero_std": f}) + "\n" for i, f in enumerate(frac))
            + json.dumps({"train_runtime": 1.0}) + "\n")
    (root / "dds").mkdir()
    # studies s000..s005: D = 0 for s000, s001, s002 (half of the train split)
    (root / "dds" / "diversity.jsonl").write_text("".join(
        json.dumps({"study_id": f"s{i:03d}", "D": 0.0 if i < 3 else 0.4}) + "\n" for i in range(6)))


def test_zero_std_shares_split_phase_one_from_all_steps(tmp_path):
    log = tmp_path / "trainer_log.jsonl"
    log.write_text("".join(json.dumps({"step": s, "frac_reward_zero_std": f}) + "\n"
                           for s, f in ((5, 0.5), (10, 0.25), (15, 0.0), (20, 0.125))))
    assert zero_std_shares(log, switch_step=10) == (pytest.approx(0.375), pytest.approx(0.21875))
    assert zero_std_shares(tmp_path / "missing.jsonl", 10) == (None, None)


def test_deer_tables_mean_and_std_over_seeds(tmp_path):
    data = build_mini_dataset(tmp_path / "data")
    out = tmp_path / "out"
    _seed(out, 0, data, [1.0, 0.5, 0.0, 0.0], {"spd": _eval(0.6, 0.7, 0.65, 0.30), "grpo-a": _eval(0.7, 0.7, 0.7, 0.32)})
    _seed(out, 1, data, [0.5, 0.5, 0.5, 0.5], {"spd": _eval(0.8, 0.5, 0.55, 0.20), "grpo-a": _eval(0.7, 0.9, 0.8, 0.36)})
    tables = deer_tables(out, [0, 1, 7], ["spd", "grpo-a", "grpo-half"])   # seed 7 was never run: ignored
    assert tables["seeds"] == [0, 1]
    t1 = tables["table1"]
    assert list(t1) == ["spd", "grpo-a"]                                   # grpo-half was never evaluated
    assert t1["spd"]["CE P"] == pytest.approx([0.7, 0.1414213562])        # mean, sample std of (0.6, 0.8)
    assert t1["grpo-a"]["CE F1"] == pytest.approx([0.75, 0.0707106781])
    assert t1["grpo-a"]["BLEU-4"] == pytest.approx([0.34, 0.0282842712])
    assert t1["spd"]["clin. F1 (ex.)"] == pytest.approx([0.70, 0.0707106781])   # 0.75, 0.65
    assert t1["spd"]["METEOR"] == [None, None]                             # not computed: shown as "-"
    t7 = tables["table7"]
    assert list(t7) == ["grpo-a", "grpo-half"]
    # phase 1 = logged steps <= switch_step 2: seed 0 (1.0 + 0.5) / 2 = 0.75, seed 1 0.5
    assert t7["grpo-a"][TABLE7[0]] == pytest.approx([0.625, 0.1767766953])
    assert t7["grpo-a"][TABLE7[1]] == pytest.approx([0.4375, 0.0883883476])
    # every train study (6): half have D = 0
    assert t7["grpo-a"][TABLE7[2]] == pytest.approx([0.5, 0.0])
    # the random half: the run's own draw (`grpo --random-fraction`: random.Random(seed).sample of the split)
    drawn = {seed: random.Random(seed).sample(range(6), 3) for seed in (0, 1)}
    shares = [sum(i < 3 for i in drawn[seed]) / 3 for seed in (0, 1)]
    assert t7["grpo-half"][TABLE7[2]][0] == pytest.approx(sum(shares) / 2)
    text = markdown(tables)
    assert "| spd | 0.700 ± 0.141 |" in text and "| grpo-a | 0.625 ± 0.177 | 0.438 ± 0.088 | 0.500 ± 0.000 |" in text


def test_no_grpo_run_gives_no_deer_tables(tmp_path):
    (tmp_path / "seed-0" / "eval").mkdir(parents=True)
    assert deer_tables(tmp_path, [0], ["spd"]) is None
