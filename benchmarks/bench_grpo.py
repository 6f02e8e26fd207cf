#!/usr/bin/env python
"""GRPO / DiTPO cost: reward throughput for G = 8, and one step's time split by part.

    .venv/bin/python benchmarks/bench_grpo.py [--steps 3] [--preset base]

1. Reward throughput: the clinical reward (DEER eq. 1) of G = 8 completions against their study's
   reference, for 250 groups of real-style reports (benchmarks/bench_labeler.py's sentences, every
   text distinct so the labeler's cache never hits): phase 1 (F1 only) and phase 2 (F1 + 0.25 BLEU-2),
   rule labeler; also the report classifier as the labeler (MiniLM encoder, CheXbert heads).
2. One GRPO step, three token-weightings (none = GRPO, tfidf and gradient = DiTPO), on a student of
   `--preset` (random init, vision frozen, full fine-tuning) and a synthetic 40-study world (64 px),
   2 studies x G = 8 completions of up to 64 new tokens per step, 2 threads: mean seconds per step of
   generation (TRL's `_generate`), reward (`_calculate_rewards`), token weights (our override's
   weighting) and the rest of the step (reference/old log-probs, loss, backward, optimiser =
   `training_step` minus the three). The first step is a warm-up and not counted.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent))

G = 8


def reward_throughput(groups: int = 250) -> list[tuple[str, float]]:
    from bench_labeler import make_reports

    from driftalign.classifier import init_classifier
    from driftalign.labeling.labeler import _label_tuple
    from driftalign.rl import clinical_reward

    texts = make_reports(groups * (G + 1), seed=1)
    completions = [t for i, t in enumerate(texts) if i % (G + 1)]
    references = [texts[(i // G) * (G + 1)] for i in range(len(completions))]
    rows = []
    for label, gamma in (("rule labeler, phase 1 (F1)", 0.0), ("rule labeler, phase 2 (F1 + 0.25 BLEU-2)", 0.25)):
        _label_tuple.cache_clear()
        t0 = time.perf_counter()
        clinical_reward(completions, references, gamma)
        rows.append((label, len(completions) / (time.perf_counter() - t0)))
    clf = init_classifier()      # the MiniLM encoder + CheXbert heads (random heads: the cost is the same)
    n = G * 16
    t0 = time.perf_counter()
    clinical_reward(completions[:n], references[:n], 0.0, labeler=clf.label)
    rows.append(("report classifier (MiniLM), phase 1", n / (time.perf_counter() - t0)))
    return rows


class _Timer:
    def __init__(self) -> None:
        self.seconds: dict[str, list[float]] = defaultdict(list)

    def wrap(self, owner, name: str, key: str) -> None:
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[key].append(time.perf_counter() - t0)

        setattr(owner, name, timed)


def step_split(preset: str, steps: int, weights: str, root: Path) -> dict[str, float]:
    import torch

    import driftalign.training.grpo_trainer as gt
    from driftalign.classifier import init_classifier, save_classifier
    from driftalign.models import build_student
    from driftalign.synth.world import build_world
    from driftalign.training.grpo import DiTPOConfig

    torch.set_num_threads(2)
    world = root / "world"
    if not world.exists():
        build_world(world, studies=40, seed=0, image_size=64, teachers="none", progress=False)
        build_student(preset, world, root / "student", seed=0, pretrain_vision=False)
        save_classifier(init_classifier(), root / "classifier")
    cfg = DiTPOConfig(model=root / "student", data=world, out=root / f"rl-{weights}", switch_step=1, lora=False,
                      freeze_vision=True, num_generations=G, batch_size=2, max_new_tokens=64, max_steps=steps + 1,
                      token_weights=weights, classifier=root / "classifier" if weights == "gradient" else None,
                      save_steps=10_000, logging_steps=10_000, temperature=1.0)
    from driftalign.training.common import quiet_trainer

    timer = _Timer()
    trainer, _, _ = gt.build_trainer(cfg)
    quiet_trainer(trainer, f"grpo {weights}")
    timer.wrap(trainer, "_generate", "generation")
    timer.wrap(trainer, "_calculate_rewards", "reward")
    timer.wrap(gt, "group_token_advantages", "weights")
    timer.wrap(gt, "gradient_advantages", "weights")
    timer.wrap(trainer, "training_step", "step")
    trainer.train()
    # TRL generates one batch per optimiser step here (steps_per_generation = gradient accumulation = 1)
    first = {k: v[1:] for k, v in timer.seconds.items()}       # drop the warm-up step
    mean = {k: (sum(v) / len(v) if v else 0.0) for k, v in first.items()}
    parts = {k: mean.get(k, 0.0) for k in ("generation", "reward", "weights")}
    parts["rest (log-probs, loss, backward, optimiser)"] = mean["step"] - sum(parts.values())
    parts["step"] = mean["step"]
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3, help="timed steps (after one warm-up step)")
    parser.add_argument("--preset", default="base")
    args = parser.parse_args()
    print(f"## Reward throughput (G = {G}; real-style 64-word reports, one process)\n")
    print("| reward | rewards/s |\n|---|---|")
    for label, rate in reward_throughput():
        print(f"| {label} | {rate:,.0f} |")
    print(f"\n## One GRPO step (preset {args.preset}, 2 studies x G = {G}, <= 64 new tokens, "
          f"mean of {args.steps} steps, seconds)\n")
    keys = ["generation", "reward", "weights", "rest (log-probs, loss, backward, optimiser)", "step"]
    print("| token weights | " + " | ".join(keys) + " |\n|---|" + "---|" * len(keys))
    with tempfile.TemporaryDirectory() as tmp:
        for weights in ("none", "tfidf", "gradient"):
            parts = step_split(args.preset, args.steps, weights, Path(tmp))
            print(f"| {weights} | " + " | ".join(f"{parts[k]:.2f}" for k in keys) + " |", flush=True)


if __name__ == "__main__":
    main()
