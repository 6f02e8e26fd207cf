#!/usr/bin/env python
"""Where one APO training run's time goes (default path), by part, from cProfile.

    .venv/bin/python benchmarks/profile_apo.py [--n 7] [--image-tokens 4] [--preset tiny]

Same data and student as benchmarks/bench_apo_vs_trl.py (32 studies, 16 steps of 2 studies, full
fine-tuning of the language model, vision frozen, 2 threads). A warm-up run first (imports, first
calls), then a profiled run; prints the cumulative time of each part and its share of `run_apo`.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

# (label, file suffix, function name): cumulative time of that function (calls inside it included)
PARTS = (
    ("reference pass (forward only, before training)", "training/reference_cache.py", "precompute_reference_logps"),
    ("  of which: collation", "training/apo_collator.py", "__call__"),
    ("dataset items: image read + prompt encoding (cached per study)", "training/apo.py", "__getitem__"),
    ("  of which: processor (image processing + tokenisation)", "training/chat.py", "encode_prompt"),
    ("training loop (Trainer._inner_training_loop)", "transformers/trainer.py", "_inner_training_loop"),
    ("forward: shared-prefix log-probs (reference pass and policy)", "training/shared_prefix.py", "shared_prefix_answer_logps"),
    ("  of which: vision tower (frozen, run every step)", "qwen2_5_vl/modeling_qwen2_5_vl.py", "get_image_features"),
    ("  of which: LM head + log-softmax", "training/shared_prefix.py", "_token_logps"),
    ("  backward", "torch/autograd/graph.py", "_engine_run_backward"),
    ("  optimiser step", "accelerate/optimizer.py", "step"),
    ("  start/end: accelerate free_memory (gc.collect)", "accelerate/utils/memory.py", "clear_device_cache"),
    ("model load", "driftalign/models/load.py", "load_student"),
    ("save final model + card", "training/spd_trainer.py", "save_final"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=7)
    parser.add_argument("--image-tokens", type=int, default=4)
    parser.add_argument("--preset", default="tiny")
    args = parser.parse_args()
    import bench_apo_vs_trl as bench

    from driftalign.training.apo import APOConfig, run_apo

    torch.set_num_threads(2)
    root = Path(tempfile.mkdtemp())
    data, consensus = bench.build_data(root / "data", args.n, bench.IMAGE_SIZE[args.image_tokens])
    student = bench.build_student_for(root, data, bench.IMAGE_SIZE[args.image_tokens], args.preset)

    def config(out: Path) -> APOConfig:
        return APOConfig(model=student, data=data, consensus=consensus, out=out, prompt=bench.PROMPT, lora=False,
                         freeze_vision=True, lr=2e-5, beta=0.1, batch_size=2, max_steps=bench.STUDIES // 2,
                         save_steps=10_000, logging_steps=10_000)

    run_apo(config(root / "warm-up"))
    profile = cProfile.Profile()
    profile.enable()
    run_apo(config(root / "profiled"))
    profile.disable()
    stats = pstats.Stats(profile).stats    # {(file, line, name): (cc, nc, tt, ct, callers)}
    total = next(v[3] for k, v in stats.items() if k[0].endswith("training/apo.py") and k[2] == "run_apo")
    print(f"APO, default path, preset {args.preset}, N = {args.n}, {args.image_tokens} image tokens, "
          f"{bench.STUDIES} studies: run_apo {total:.2f} s (profiled; cProfile adds overhead)")
    print("| part | seconds | share of run_apo |\n|---|---|---|")
    for label, suffix, name in PARTS:
        seconds = sum(v[3] for k, v in stats.items() if k[0].endswith(suffix) and k[2] == name)
        print(f"| {label} | {seconds:.3f} | {seconds / total:.0%} |")


if __name__ == "__main__":
    main()
