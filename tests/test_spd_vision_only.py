"""DEER's SFT cold start as an SPD option: `spd --targets reference --full --train-only vision` trains the vision
encoder and its projector on the reference reports and leaves the language model exactly as it was.

SYNTHETIC: the 6-study mini dataset of apo_helpers and a randomly initialised tiny student.
"""

from __future__ import annotations

import pytest
import torch
from apo_helpers import build_mini_dataset

from driftalign.cli.app import main
from driftalign.errors import ConfigError
from driftalign.models import build_student
from driftalign.models.load import load_model
from driftalign.models.lora import is_vision_name
from driftalign.training.spd import SPDConfig


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def test_vision_only_cold_start_changes_only_the_vision_tower(tmp_path):
    data = build_mini_dataset(tmp_path / "data")
    student = build_student("tiny", data, tmp_path / "student", seed=0)
    out = tmp_path / "sft"
    main(["spd", "--model", str(student), "--data", str(data), "--out", str(out), "--targets", "reference",
          "--full", "--train-only", "vision", "--max-steps", "2", "--batch-size", "2", "--lr", "1e-3",
          "--warmup-ratio", "0", "--weight-decay", "0.05"])
    before = load_model(student, dtype=torch.float32).state_dict()
    after = load_model(out / "final", dtype=torch.float32).state_dict()
    assert before.keys() == after.keys()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    vision = {k for k in before if is_vision_name(k)}
    assert changed and changed <= vision, sorted(changed - vision)[:5]       # weight decay alone would touch the LM
    assert any(".merger." in k for k in changed)                               # the projector trains too
    saved = (out / "driftalign_config.yaml").read_text()
    assert "train_only: vision" in saved and "freeze_vision: false" in saved


@pytest.mark.parametrize("extra, message", [
    ({}, "--train-only vision needs --full"),
    ({"lora": False, "freeze_vision": True}, "drop --freeze-vision"),
])
def test_vision_only_needs_full_finetuning(extra, message):
    with pytest.raises(ConfigError, match=message):
        SPDConfig.load(None, model="m", data="d", out="o", train_only="vision", **extra)
