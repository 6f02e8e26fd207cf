"""SPD training throughput (examples/s) on the tiny preset, LoRA and full fine-tuning.

    .venv/bin/python benchmarks/bench_spd.py [--steps 30] [--batch-size 8] [--data DATASET]

Without --data it builds a small synthetic world (SYNTHETIC data) in a temporary directory.
Throughput is the Trainer's own `train_samples_per_second` (2 torch threads, CPU).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _world(tmp: Path, data: Path | None) -> Path:
    if data is not None:
        return data
    from driftalign.synth.world import build_world

    return build_world(tmp / "world", studies=200, seed=0, image_size=64, teachers="all", progress=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", type=Path, default=None, help="existing dataset (default: a 200-study world)")
    args = parser.parse_args()

    import torch
    from transformers.utils import logging as hf_logging

    from driftalign.models import build_student
    from driftalign.training.spd import SPDConfig
    from driftalign.training.spd_trainer import run_spd

    torch.set_num_threads(args.threads)
    hf_logging.set_verbosity_error()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        world = _world(tmp, args.data)
        student = build_student("tiny", world, tmp / "tiny", seed=0)
        print(f"tiny preset, batch {args.batch_size}, {args.steps} steps, {args.threads} threads (synthetic data)")
        for mode in ("lora", "full"):
            cfg = SPDConfig(model=student, data=world, out=tmp / mode, max_steps=args.steps,
                            batch_size=args.batch_size, lora=mode == "lora", freeze_vision=mode == "lora",
                            save_steps=10**6, logging_steps=10**6, report_to="none")
            start = time.perf_counter()
            summary = run_spd(cfg)
            wall = time.perf_counter() - start
            print(f"{mode:>4}: {summary.examples_per_second:7.1f} examples/s in the training loop "
                  f"({1000 * args.batch_size / summary.examples_per_second:.0f} ms per batch of {args.batch_size}); "
                  f"{wall:.1f} s wall incl. load and save")


if __name__ == "__main__":
    main()
