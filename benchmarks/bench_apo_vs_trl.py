#!/usr/bin/env python
"""APO training throughput: TRL's DPOTrainer vs driftalign flat vs driftalign default, one table, one run.

    .venv/bin/python benchmarks/bench_apo_vs_trl.py                 # N in {1,3,7,15} x image tokens {4,16,64}
    .venv/bin/python benchmarks/bench_apo_vs_trl.py --quick         # N = 7, image tokens {4, 64}
    .venv/bin/python benchmarks/bench_apo_vs_trl.py --quick --preset base   # the seeing student's widths

Same student (Qwen2.5-VL architecture, `tiny` preset by default or `--preset base`, random init;
the vision tower's pretraining is skipped: it is frozen and its weights do not change the cost), same data: 16 studies,
one image each (56 / 112 / 224 px -> 4 / 16 / 64 image tokens), t+ and N negatives of ~40 tokens,
2 studies per optimiser step, full fine-tuning of the language model with the vision tower frozen,
lr 2e-5, beta 0.1, 2 threads, CPU.

* TRL 1.16 `DPOTrainer`: the same data expanded to N (t+, t_u) pairs per study, 2N pairs per step
  (so each step sees the same studies). Its best settings that apply to vision data: reference =
  a frozen copy (`ref_model=None`), `precompute_ref_log_probs=False` (it refuses True for vision
  datasets: "not supported for vision datasets"), `padding_free` not available for VLMs. It runs
  the image + prompt again for every chosen and every rejected row, for the policy and the
  reference.
* driftalign flat (`--no-shared-prefix`): one row per study, N+1 full sequences, reference
  log-probs computed once before training (included in the time).
* driftalign default: one vision + prefix pass per study, all answers in one forward on the
  gathered KV cache, LM head only on answer tokens (docs/apo.md section 4).

Each (system, N, image tokens) runs in its own process. Columns: studies/s = studies / (the training
loop, from the Trainer's `on_train_begin` to its `on_train_end`: collation, forward, backward, optimiser,
and for TRL the reference model's forwards; plus for driftalign the reference log-prob pass before
training); ratio = studies/s over TRL's; setup s = everything else of the job except loading and saving
the model (TRL: `DPOTrainer(...)`, which copies the reference model and prepares the dataset:
tokenisation and image processing of every row; driftalign: reading the consensus, building the
trainer); job ratio = TRL's (setup + loop) over this system's (setup + loop [+ reference pass]);
peak RSS of the process; vision images
encoded per study (forward hooks on the vision tower(s), policy + reference); token positions through
the decoder per study (forward hooks on the language model(s)); token ratio = TRL's token positions
over this system's — the speed-up that the decoder's work alone would allow. The Trainer's own start and end
(accelerate's `free_memory` runs a full `gc.collect`, ~0.3 s here) are the same code for both and
are left out of studies/s; they are in neither column.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

STUDIES = 32
PROMPT = "Describe the image."
IMAGE_SIZE = {4: 56, 16: 112, 64: 224}
FINDINGS = ("left pleural effusion", "right basilar atelectasis", "mild pulmonary edema", "cardiomegaly",
            "right upper lobe consolidation", "small left apical pneumothorax", "patchy bibasilar opacities",
            "a right internal jugular line", "no acute osseous abnormality", "stable mediastinal contours")


def _answer(k: int) -> str:
    a, b, c = FINDINGS[k % 10], FINDINGS[(k + 3) % 10], FINDINGS[(k + 7) % 10]
    return f"There is {a}. Findings also include {b}. No evidence of {c}. Impression: {a}, unchanged from prior."


def build_data(root: Path, n_neg: int, image_size: int) -> tuple[Path, Path]:
    """A 16-study dataset (random images), N teachers, and a consensus file with N negatives per study."""
    import numpy as np
    from PIL import Image

    from driftalign.constants import OBSERVATIONS
    from driftalign.data.io import write_jsonl
    from driftalign.data.schema import Study, Trajectory

    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True, exist_ok=True)
    studies, trajectories, consensus = [], [], []
    labels = dict.fromkeys(OBSERVATIONS)
    for i in range(STUDIES):
        sid = f"s{i:03d}"
        Image.fromarray(rng.integers(0, 255, (image_size, image_size), dtype=np.uint8)).convert("RGB").save(
            root / "images" / f"{sid}.png")
        studies.append(Study(study_id=sid, images=[f"images/{sid}.png"], labels=labels, findings=_answer(i),
                             impression="", split="train"))
        negs = []
        for u in range(n_neg):
            text = _answer(i + u + 1)
            trajectories.append(Trajectory(study_id=sid, teacher=f"t{u}", prompt=PROMPT, response=text))
            negs.append({"teacher": f"t{u}", "response": text, "drift": 0.5})
        consensus.append({"study_id": sid, "prompt": PROMPT, "chosen": _answer(i), "strategy": "vote",
                          "negatives": negs, "synthetic": True})
    write_jsonl(root / "studies.jsonl", (s.model_dump(mode="json") for s in studies))
    write_jsonl(root / "trajectories.jsonl", (t.model_dump(mode="json") for t in trajectories))
    write_jsonl(root / "consensus.jsonl", consensus)
    return root, root / "consensus.jsonl"


def build_student_for(root: Path, data: Path, image_size: int, preset: str) -> Path:
    from driftalign.models import build_student, load_processor
    from driftalign.models.processor import image_processor_for

    out = build_student(preset, data, root / "student", seed=0, pretrain_vision=False)
    processor = load_processor(out)
    processor.image_processor = image_processor_for(image_size)
    processor.save_pretrained(out)
    return out


class _Clock:
    """Wall time of the training loop (on_train_begin .. on_train_end), as a Trainer callback."""

    def __init__(self):
        from transformers import TrainerCallback

        clock = self

        class _Callback(TrainerCallback):
            def on_train_begin(self, args, state, control, **kw):
                clock.begin = time.perf_counter()

            def on_train_end(self, args, state, control, **kw):
                clock.loop = time.perf_counter() - clock.begin

        self.callback = _Callback()
        self.begin = self.loop = 0.0


class _Counter:
    """Forward hooks: images through vision towers and token positions through language models."""

    def __init__(self):
        self.images = 0
        self.tokens = 0

    def attach(self, model) -> None:
        core = model.model
        core.visual.register_forward_hook(self._vision, with_kwargs=True)
        core.language_model.register_forward_hook(self._text, with_kwargs=True)

    def _vision(self, module, args, kwargs, out) -> None:
        grid = kwargs.get("grid_thw", args[1] if len(args) > 1 else None)
        self.images += int(grid.shape[0])

    def _text(self, module, args, kwargs, out) -> None:
        x = kwargs.get("inputs_embeds")
        if x is None:
            x = kwargs.get("input_ids")
        self.tokens += int(x.shape[0] * x.shape[1])


def _freeze_vision(model) -> None:
    for p in model.model.visual.parameters():
        p.requires_grad_(False)


def run_trl(student: Path, data: Path, n_neg: int, out: Path, counter: _Counter) -> dict:
    from datasets import Dataset
    from PIL import Image
    from trl import DPOConfig, DPOTrainer

    from driftalign.data.dataset import load_dataset
    from driftalign.data.io import read_jsonl
    from driftalign.models import load_student

    ds = load_dataset(data)
    rows = []
    for _, c in read_jsonl(data / "consensus.jsonl"):
        image = Image.open(data / "images" / f"{c['study_id']}.png").convert("RGB")
        for neg in c["negatives"]:
            rows.append({"images": [image], "prompt": [{"role": "user", "content": PROMPT}],
                         "chosen": [{"role": "assistant", "content": c["chosen"]}],
                         "rejected": [{"role": "assistant", "content": neg["response"]}]})
    assert len(rows) == len(ds.studies) * n_neg
    model, processor = load_student(student)
    _freeze_vision(model)
    args = DPOConfig(output_dir=str(out), per_device_train_batch_size=2 * n_neg, max_steps=STUDIES // 2,
                     learning_rate=2e-5, beta=0.1, use_cpu=True, bf16=False, report_to=[], save_strategy="no",
                     logging_steps=1000, precompute_ref_log_probs=False, dataloader_num_workers=0,
                     gradient_checkpointing=False, max_length=None, lr_scheduler_type="cosine", warmup_steps=0)
    clock = _Clock()
    t0 = time.perf_counter()
    trainer = DPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=processor,
                         callbacks=[clock.callback])
    setup = time.perf_counter() - t0
    counter.attach(trainer.model)
    if trainer.ref_model is not None:
        counter.attach(trainer.ref_model)
    trainer.train()
    return {"timed": clock.loop, "setup": setup}


def run_driftalign(student: Path, data: Path, consensus: Path, out: Path, shared_prefix: bool,
                   counter: _Counter) -> dict:
    import driftalign.models.load as load_mod
    from driftalign.training.apo import APOConfig, run_apo

    original = load_mod.load_student

    def counted(*a, **k):
        model, processor = original(*a, **k)
        counter.attach(model)
        return model, processor

    import driftalign.training.apo as apo_mod
    apo_mod.load_student = counted
    spent = {"reference": 0.0, "excluded": 0.0, "train": 0.0}

    def timed(fn, key):
        def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent[key] += time.perf_counter() - t
        return wrapper

    apo_mod.prepare_reference = timed(apo_mod.prepare_reference, "reference")
    apo_mod.load_student = timed(apo_mod.load_student, "excluded")
    apo_mod.save_final = timed(apo_mod.save_final, "excluded")
    apo_mod.APOTrainer.train = timed(apo_mod.APOTrainer.train, "train")
    clock = _Clock()
    cfg = APOConfig(model=student, data=data, consensus=consensus, out=out, prompt=PROMPT, lora=False,
                    freeze_vision=True, lr=2e-5, beta=0.1, batch_size=2, max_steps=STUDIES // 2,
                    shared_prefix=shared_prefix, save_steps=10_000, logging_steps=10_000)
    t0 = time.perf_counter()
    run_apo(cfg, callbacks=[clock.callback])
    total = time.perf_counter() - t0
    return {"timed": clock.loop + spent["reference"],
            "setup": total - spent["train"] - spent["reference"] - spent["excluded"]}


def child(system: str, n_neg: int, image_tokens: int, preset: str) -> dict:
    import resource

    import torch

    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data, consensus = build_data(root / "data", n_neg, IMAGE_SIZE[image_tokens])
        student = build_student_for(root, data, IMAGE_SIZE[image_tokens], preset)
        counter = _Counter()
        if system == "trl":
            times = run_trl(student, data, n_neg, root / "trl", counter)
        else:
            times = run_driftalign(student, data, consensus, root / system, system == "default", counter)
    return {"preset": preset, "system": system, "N": n_neg, "image_tokens": image_tokens, "seconds": times["timed"],
            "setup_s": times["setup"], "studies_per_s": STUDIES / times["timed"], "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "vision_images_per_study": counter.images / STUDIES, "token_positions_per_study": counter.tokens / STUDIES}


def measure(system: str, n_neg: int, image_tokens: int, preset: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", system, str(n_neg), str(image_tokens), preset],
                         capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "2"})
    if out.returncode != 0:
        return {"preset": preset, "system": system, "N": n_neg, "image_tokens": image_tokens, "error": out.stderr.strip().splitlines()[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(rows: list[dict]) -> str:
    lines = ["| N | image tokens | system | studies/s | ratio vs TRL | setup s | job ratio | peak RSS (MB) "
             "| vision images / study | token positions / study | token ratio |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    trl_tokens = {(r["N"], r["image_tokens"]): r["token_positions_per_study"] for r in rows
                  if r["system"] == "trl" and "error" not in r}
    trl = {(r["N"], r["image_tokens"]): r.get("studies_per_s") for r in rows if r["system"] == "trl"}
    trl_job = {(r["N"], r["image_tokens"]): r["seconds"] + r["setup_s"] for r in rows if r["system"] == "trl" and "error" not in r}
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['N']} | {r['image_tokens']} | {r['system']} | error: {r['error']} | | | | | | | |")
            continue
        base = trl.get((r["N"], r["image_tokens"]))
        ratio = f"{r['studies_per_s'] / base:.2f}x" if base else "-"
        job = trl_job.get((r["N"], r["image_tokens"]))
        job_ratio = f"{job / (r['seconds'] + r['setup_s']):.2f}x" if job else "-"
        tok = trl_tokens.get((r["N"], r["image_tokens"]))
        tok_ratio = f"{tok / r['token_positions_per_study']:.2f}x" if tok else "-"
        lines.append(f"| {r['N']} | {r['image_tokens']} | {r['system']} | {r['studies_per_s']:.2f} | {ratio} | {r['setup_s']:.2f} | {job_ratio} | "
                     f"{r['peak_rss_mb']:.0f} | {r['vision_images_per_study']:.1f} | {r['token_positions_per_study']:.0f} | {tok_ratio} |")
    return "\n".join(lines)


def slopes(rows: list[dict]) -> str:
    """Least-squares slope of the ratio vs TRL over N, per system and image-token count."""
    import numpy as np

    trl = {(r["N"], r["image_tokens"]): r["studies_per_s"] for r in rows if r["system"] == "trl" and "error" not in r}
    lines = []
    for system in ("flat", "default"):
        for tokens in sorted({r["image_tokens"] for r in rows}):
            pts = [(r["N"], r["studies_per_s"] / trl[(r["N"], tokens)]) for r in rows
                   if r["system"] == system and r["image_tokens"] == tokens and "error" not in r and (r["N"], tokens) in trl]
            if len(pts) >= 2:
                slope = float(np.polyfit([p[0] for p in pts], [p[1] for p in pts], 1)[0])
                lines.append(f"ratio vs TRL of {system}, {tokens} image tokens: slope {slope:+.3f} per extra negative "
                             f"(N = {', '.join(str(p[0]) for p in pts)})")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 7, image tokens 4 and 64")
    parser.add_argument("--n", default=None, help="comma-separated N (negatives per study)")
    parser.add_argument("--image-tokens", default=None, help="comma-separated image tokens per image (4, 16, 64)")
    parser.add_argument("--json", default=None, help="also write the rows here")
    parser.add_argument("--preset", default="tiny", help="student preset (tiny, base)")
    parser.add_argument("--child", nargs=4, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        system, n, tokens, preset = args.child
        print(json.dumps(child(system, int(n), int(tokens), preset)))
        return
    ns = [7] if args.quick else [1, 3, 7, 15]
    tokens = [4, 64] if args.quick else [4, 16, 64]
    if args.n:
        ns = [int(x) for x in args.n.split(",")]
    if args.image_tokens:
        tokens = [int(x) for x in args.image_tokens.split(",")]
    rows = []
    for t in tokens:
        for n in ns:
            for system in ("trl", "flat", "default"):
                rows.append(measure(system, n, t, args.preset))
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(f"preset {args.preset}, {STUDIES} studies, 2 threads")
    print(table(rows))
    print(slopes(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
