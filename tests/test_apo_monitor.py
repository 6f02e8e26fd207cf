"""Watching APO train: absolute per-token log-probs in the logs, the `--eval-every` monitor, `--anchor` wiring.

All on the shared `mini_world` (6 train studies, no val/test split: the monitor's fallback path) and the
helpers of tests/test_apo_training.py.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from statistics import fmean as mean

import numpy as np
import pytest
import torch
from transformers import TrainerCallback

from test_apo_training import LogRecorder, _cfg, _dataset
from driftalign.data.dataset import load_dataset
from driftalign.models.chat import encode_example
from driftalign.training.apo import run_apo
from driftalign.training.apo_monitor import monitor_subset, preserved_rng, report_metrics
from driftalign.training.sequence_logps import model_answer_logps


@pytest.fixture(scope="module")
def world(mini_world, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {**mini_world, "root": tmp_path_factory.mktemp("apo_monitor")}


def _log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "trainer_log.jsonl").read_text().splitlines()]


# ---- absolute per-token log-probs (logps_per_token/*) ---------------------------------------------------------


class WeightsAtStep(TrainerCallback):
    """The weights the forward of optimiser step `step` + 1 uses (a copy taken when that step begins)."""

    def __init__(self, step: int):
        self.step, self.state = step, None

    def on_step_begin(self, args, state, control, model=None, **kwargs):
        if state.global_step == self.step:
            self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}


def _direct_per_token(model, processor, dataset) -> dict[str, list[float]]:
    """log pi / token count of every candidate, one unbatched flat forward per answer (no collator, no cache)."""
    model.eval()
    out: dict[str, list[float]] = {"chosen": [], "rejected": []}
    for i in range(len(dataset)):
        f = dataset[i]
        for slot, answer in enumerate([f["chosen"], *f["rejected"]]):
            ex = encode_example(processor, f["images"], f["prompt"], answer)
            batch = {k: (v.unsqueeze(0) if k not in ("pixel_values", "image_grid_thw") else v) for k, v in ex.items()}
            with torch.no_grad():
                value = model_answer_logps(model, batch).item() / (batch["labels"][:, 1:] != -100).sum().item()
            if slot == 0:
                out["chosen"].append(value)
            else:
                out["rejected"].append(value)
                out.setdefault(f["teachers"][slot - 1], []).append(value)
    return out


def test_logged_per_token_logps_equal_a_direct_computation(world, tmp_path):
    """Step 2's log holds the policy after one full-fine-tuning update (weights copied when step 2 began) and
    the SPD reference; both recomputed here answer by answer, each divided by its own answer-token count."""
    recorder, weights = LogRecorder(), WeightsAtStep(1)
    run_apo(_cfg(world, tmp_path / "tok", max_steps=2, batch_size=6, lora=False, lr=1e-3),
            callbacks=[recorder, weights])
    dataset, _, spd, processor = _dataset(world)
    ref = _direct_per_token(spd, processor, dataset)
    spd.load_state_dict(weights.state)
    policy = _direct_per_token(spd, processor, dataset)
    assert policy["chosen"] != pytest.approx(ref["chosen"], abs=1e-3)        # the update moved t+: a real check
    first, second = recorder.logs
    # step 1: policy == reference
    assert first["logps_per_token/chosen"] == pytest.approx(mean(ref["chosen"]), abs=1e-4)
    assert first["logps_per_token/ref_chosen"] == pytest.approx(mean(ref["chosen"]), abs=1e-4)
    # step 2: policy after one update vs the (cached) reference, t+ and the 6 studies' 15 negatives
    assert second["logps_per_token/chosen"] == pytest.approx(mean(policy["chosen"]), abs=1e-4)
    assert second["logps_per_token/ref_chosen"] == pytest.approx(mean(ref["chosen"]), abs=1e-4)
    assert second["logps_per_token/rejected"] == pytest.approx(mean(policy["rejected"]), abs=1e-4)
    assert second["logps_per_token/ref_rejected"] == pytest.approx(mean(ref["rejected"]), abs=1e-4)
    for teacher in ("sim-a", "sim-b", "sim-c"):
        assert second[f"logps_per_token/teacher/{teacher}"] == pytest.approx(mean(policy[teacher]), abs=1e-4)
    # the same keys reach OUT/trainer_log.jsonl
    logged = [r for r in _log(tmp_path / "tok") if "loss" in r]
    assert logged[1]["logps_per_token/chosen"] == second["logps_per_token/chosen"]


# ---- --anchor ----------------------------------------------------------------------------------------------


def test_anchor_none_leaves_the_training_identical_and_dpop_is_logged(world, tmp_path):
    """--anchor none ignores --anchor-lambda (same losses, same weights as the default); --anchor dpop starts
    from the same loss (policy == reference: penalty 0) and logs its penalty."""
    from safetensors.torch import load_file

    runs = {}
    for name, kw in (("default", {}), ("none", dict(anchor="none", anchor_lambda=7.0)),
                     ("dpop", dict(anchor="dpop", anchor_lambda=50.0))):
        recorder = LogRecorder()
        run_apo(_cfg(world, tmp_path / name, max_steps=3, lora=False, lr=1e-3, **kw), callbacks=[recorder])
        runs[name] = recorder.logs
    assert [r["loss"] for r in runs["none"]] == [r["loss"] for r in runs["default"]]
    a = load_file(tmp_path / "default" / "final" / "model.safetensors")
    b = load_file(tmp_path / "none" / "final" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not any(k.startswith("anchor/") for r in runs["none"] for k in r)
    assert runs["dpop"][0]["loss"] == runs["default"][0]["loss"]
    assert runs["dpop"][0]["anchor/dpop_penalty"] == 0.0
    assert all("anchor/dpop_penalty" in r and "anchor/dpop_active" in r for r in runs["dpop"])


# ---- the monitor --------------------------------------------------------------------------------------------


def test_monitor_subset_falls_back_to_train_and_is_seeded(world):
    ds = load_dataset(world["data"])
    split, studies = monitor_subset(ds, 4, seed=0)
    assert split == "train" and len(studies) == 4
    assert [s.study_id for s in studies] == [s.study_id for s in monitor_subset(ds, 4, seed=0)[1]]
    assert [s.study_id for s in studies] == sorted(s.study_id for s in studies)
    assert len(monitor_subset(ds, 64, seed=0)[1]) == 6


def test_report_metrics_by_hand(world):
    """mini_world labels: Pleural Effusion 1, Pneumothorax 0, the rest unmentioned; reference 'Left pleural
    effusion. No pneumothorax.' Report 1 is right (6 words); report 2 invents pneumonia and edema (2 errors,
    4 words). No MS-CXR-T finding has both classes on these studies, so no accuracy is defined."""
    ds = load_dataset(world["data"])
    studies = ds.split("train")[:2]
    m = report_metrics(["Left pleural effusion. No pneumothorax.", "Pneumonia. Edema present."], studies)
    assert m["words"] == pytest.approx((5 + 3) / 2)
    assert m["invented_per_100"] == pytest.approx(100.0)
    assert m["drift_errors_per_100"] == pytest.approx(100.0)
    assert "avg_accuracy" not in m
    with pytest.raises(ValueError, match="one report per study"):
        report_metrics(["x"], studies)


def test_preserved_rng_restores_every_stream():
    torch.manual_seed(3), random.seed(3), np.random.seed(3)
    with preserved_rng():
        torch.rand(5), random.random(), np.random.rand()
    after = (torch.rand(1).item(), random.random(), np.random.rand())
    torch.manual_seed(3), random.seed(3), np.random.seed(3)
    assert after == (torch.rand(1).item(), random.random(), np.random.rand())


def test_monitor_logs_at_the_expected_steps_and_leaves_training_unchanged(world, tmp_path, capsys):
    """--eval-every 2 over 4 steps: entries at steps 0, 2 and 4, in trainer_log.jsonl; the LoRA run (dropout
    draws from torch's RNG every step) ends with the same adapter as the run without the monitor."""
    from safetensors.torch import load_file

    kw = dict(max_steps=4, lr=2e-3)
    run_apo(_cfg(world, tmp_path / "plain", **kw))
    run_apo(_cfg(world, tmp_path / "watched", eval_every=2, eval_studies=4, eval_max_new_tokens=8, **kw))
    assert "no 'val' split" in capsys.readouterr().err
    entries = [r for r in _log(tmp_path / "watched") if "monitor/words" in r]
    assert [r["step"] for r in entries] == [0, 2, 4]
    # the monitor's log must not swallow the step's own training log (Trainer.log clears control.should_log)
    losses = {name: [(r["step"], r["loss"]) for r in _log(tmp_path / name) if "loss" in r]
              for name in ("plain", "watched")}
    assert [step for step, _ in losses["watched"]] == [1, 2, 3, 4] and losses["watched"] == losses["plain"]
    for r in entries:
        assert r["monitor/studies"] == 4.0 and r["monitor/seconds"] > 0
        assert {"monitor/invented_per_100", "monitor/drift_errors_per_100"} <= r.keys()
        assert 0 <= r["monitor/words"] <= 8
    a = load_file(tmp_path / "plain" / "adapter" / "adapter_model.safetensors")
    b = load_file(tmp_path / "watched" / "adapter" / "adapter_model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(v, torch.zeros_like(v)) for k, v in a.items() if "lora_B" in k)  # it trained
