"""A real 2-process DDP run of `driftalign spd` on CPU through `accelerate launch` (gloo)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_models_data import make_tiny_dataset

from driftalign.models import build_student

REPO = Path(__file__).resolve().parents[1]
ACCELERATE_CONFIGS = REPO / "configs" / "accelerate"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_ddp_spd_run(tmp_path: Path) -> None:
    data = make_tiny_dataset(tmp_path / "data")
    student = build_student("tiny", data, tmp_path / "tiny", seed=0)
    out = tmp_path / "ddp"
    accelerate = Path(sys.executable).parent / "accelerate"
    cmd = [str(accelerate), "launch", "--config_file", str(ACCELERATE_CONFIGS / "ddp_cpu_2proc.yaml"),
           "--main_process_port", str(_free_port()),
           "-m", "driftalign", "spd", "--model", str(student), "--data", str(data), "--out", str(out),
           "--max-steps", "3", "--save-steps", "3", "--batch-size", "2", "--logging-steps", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240, cwd=REPO)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "spd: rank 0/2: 20 examples" in run.stderr and "spd: rank 1/2: 20 examples" in run.stderr
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-3"]
    assert not (out / ".saving").exists()   # both ranks wrote into the staging directory before it was renamed
    rng_states = sorted(p.name for p in (out / "checkpoint-3").glob("rng_state_*.pth"))
    assert rng_states == ["rng_state_0.pth", "rng_state_1.pth"]
    state = yaml.safe_load((out / "checkpoint-3" / "trainer_state.json").read_text())
    # 2 processes x batch 2 = 4 examples per step over 20 examples: 3 steps = 0.6 epoch
    assert state["global_step"] == 3 and state["epoch"] == pytest.approx(0.6)
    assert (out / "final" / "model.safetensors").is_file() and (out / "adapter" / "adapter_model.safetensors").is_file()
    assert not list(out.glob(".*.tmp"))   # final/ and adapter/ staged by every rank, renamed by the main process


@pytest.mark.parametrize("name", ["ddp_cpu_2proc", "multi_gpu", "deepspeed_zero2", "deepspeed_zero3", "fsdp"])
def test_accelerate_configs_are_valid(name: str) -> None:
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(ACCELERATE_CONFIGS / f"{name}.yaml"))
    assert config.num_processes >= 2
    expected = {"ddp_cpu_2proc": "MULTI_GPU", "multi_gpu": "MULTI_GPU", "deepspeed_zero2": "DEEPSPEED",
                "deepspeed_zero3": "DEEPSPEED", "fsdp": "FSDP"}[name]
    assert str(config.distributed_type).endswith(expected)
    if name.startswith("deepspeed"):
        assert config.deepspeed_config["zero_stage"] == int(name[-1])
