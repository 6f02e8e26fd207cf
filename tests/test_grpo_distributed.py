"""DiTPO's TF-IDF override on 2 processes (gloo on CPU, accelerate's `debug_launcher`).

TF-IDF needs a prompt's whole group of G completions, and TRL may put the group's rows on different
processes. `gathered_group_token_advantages` pads, gathers, weights every block of G rows and slices
this process's rows back. Here G = 2 and each process holds 3 rows, so the middle group is split
across the two processes, and the processes' completions have different lengths (5 and 3 tokens),
so the padding across processes is exercised. Each process must get exactly its rows of what one
process computes on the whole batch.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from driftalign.training.grpo_trainer import gathered_group_token_advantages, group_token_advantages

G, ALPHA, PAD = 2, 4.0, 0
# 6 completions (3 groups of 2); process 0 holds rows 0-2 (T = 5), process 1 rows 3-5 (T = 3).
IDS = [[[5, 7, 7, 2, PAD], [5, 9, 2, PAD, PAD], [8, 8, 8, 8, 2]],
       [[9, 3, 2], [4, 4, 2], [4, 6, 2]]]
MASKS = [[[1, 1, 1, 1, 0], [1, 1, 1, 0, 0], [1, 1, 1, 1, 1]],
         [[1, 1, 1], [1, 1, 1], [1, 1, 1]]]
ADVANTAGES = [[0.7, -0.7, 1.1], [-1.1, 0.5, -0.5]]


def whole_batch() -> torch.Tensor:
    """The [6, 5] token advantages one process computes on the whole batch (process 1's rows padded)."""
    ids = torch.tensor(IDS[0] + [row + [PAD, PAD] for row in IDS[1]])
    mask = torch.tensor(MASKS[0] + [row + [0, 0] for row in MASKS[1]])
    return group_token_advantages(torch.tensor(ADVANTAGES[0] + ADVANTAGES[1]), ids, mask, G, ALPHA)


def _worker(result_dir: str) -> None:
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)   # the forked child must not reuse pytest's state
    acc = Accelerator(cpu=True)
    assert acc.num_processes == 2, acc.num_processes
    rank = acc.process_index
    ids, mask = torch.tensor(IDS[rank]), torch.tensor(MASKS[rank])
    got = gathered_group_token_advantages(acc, torch.tensor(ADVANTAGES[rank]), ids, mask, G, ALPHA, PAD)
    torch.save(got, f"{result_dir}/rank{rank}.pt")


def test_tfidf_gather_gives_each_process_its_rows_of_the_whole_batch(tmp_path):
    from accelerate import debug_launcher

    debug_launcher(_worker, args=(str(tmp_path),), num_processes=2)
    expected = whole_batch()
    got0, got1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    assert got0.shape == (3, 5) and got1.shape == (3, 3)
    torch.testing.assert_close(got0, expected[:3, :5])
    torch.testing.assert_close(got1, expected[3:, :3])
    # The split group (rows 2 and 3) is weighted as one group: the token 8 that only row 2 holds gets
    # w = 1 + 4 * (4/5) * ln 2 on row 2; row 3's 9 (1 of its 3 tokens, in no other row) gets
    # w = 1 + 4 * (1/3) * ln 2.
    assert got0[2, 0].item() == pytest.approx(1.1 * (1 + ALPHA * 0.8 * torch.log(torch.tensor(2.0)).item()))
    assert got1[0, 0].item() == pytest.approx(-1.1 * (1 + ALPHA / 3 * torch.log(torch.tensor(2.0)).item()))
    # Without the gather, neither process holds whole groups: the per-process weights cannot be computed.
    with pytest.raises(ValueError, match="whole groups"):
        group_token_advantages(torch.tensor(ADVANTAGES[0]), torch.tensor(IDS[0]), torch.tensor(MASKS[0]), G, ALPHA)


@pytest.mark.slow
def test_driftalign_grpo_trains_on_two_processes(mini_world, tmp_path):
    """The whole stage under `accelerate launch --config_file configs/accelerate/ddp_cpu_2proc.yaml` (2 processes,
    gloo; `--cpu --num_processes 2` would start one process: accelerate's CPU launcher): TRL gathers the rewards, our
    override gathers the completions for TF-IDF, rank 0 writes final/. Two optimizer steps, weight decay 0."""
    import socket
    import subprocess
    import sys

    from driftalign.models.load import load_model

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "run"
    config = Path(__file__).parents[1] / "configs" / "accelerate" / "ddp_cpu_2proc.yaml"
    cmd = [str(Path(sys.executable).parent / "accelerate"), "launch", "--config_file", str(config),
           "--main_process_port", str(port), "-m", "driftalign", "grpo",
           "--model", str(mini_world["student"]), "--data", str(mini_world["data"]), "--out", str(out),
           "--num-generations", "4", "--max-new-tokens", "12", "--max-steps", "2", "--switch-step", "1",
           "--token-weights", "tfidf", "--full", "--lr", "1e-2", "--warmup-ratio", "0", "--weight-decay", "0",
           "--logging-steps", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((out / "grpo_data.json").read_text())["processes"] == 2
    state = json.loads((out / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["global_step"] == 2
    before = load_model(mini_world["student"], dtype=torch.float32).state_dict()
    after = load_model(out / "final", dtype=torch.float32).state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
