#!/usr/bin/env python
"""Peak memory of APO's log-probs (forward + backward) vs vocabulary size: flat path vs default path.

    .venv/bin/python benchmarks/bench_logp_memory.py [--vocab 16384,152064] [--answer-tokens 200]

A tiny-width student (the `tiny` preset's widths) with its vocabulary enlarged to V (Qwen2.5-VL-7B's
is 152,064), 2 studies x 8 candidates of ~`--answer-tokens` tokens each. Each (path, V) runs in its
own process; the number is the growth of the process's peak RSS (ru_maxrss) during one
`model_answer_logps(...).sum().backward()`, over the same process after the model and the batch are
built. The flat path materialises [S, T, V] float32 logits; the default path runs the LM head on
`chunk_tokens(V)` answer tokens at a time under checkpointing, so its peak should not grow with S x T.
CPU only; numbers on a shared machine vary by a few tens of MB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

CHILD = r"""
import json, resource, sys, torch
from pathlib import Path
from driftalign.models import load_student
from driftalign.training.apo_collator import APOCollator
from driftalign.training.sequence_logps import model_answer_logps
from transformers import Qwen2_5_VLForConditionalGeneration

student, vocab, path, n_tokens = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
torch.set_num_threads(2)
_, processor = load_student(student)
config = Qwen2_5_VLForConditionalGeneration.config_class.from_pretrained(student)
config.text_config.vocab_size = vocab
torch.manual_seed(0)
model = Qwen2_5_VLForConditionalGeneration(config).float()
from PIL import Image
import numpy as np
rng = np.random.default_rng(0)
word = " left pleural effusion and right basilar opacity"
answer = (word * (n_tokens // 8 + 1)).strip()
features = [{"study_id": f"s{b}", "images": [Image.fromarray(rng.integers(0, 255, (56, 56, 3), dtype=np.uint8))],
             "prompt": "Describe the image.", "chosen": answer, "rejected": [answer + " x" * k for k in range(1, 8)],
             "teachers": [f"t{k}" for k in range(7)], "weights": [1.0] * 7} for b in range(2)]
batch = APOCollator(processor, [f"t{k}" for k in range(7)], shared_prefix=(path == "default"))(features)
tokens = int(batch["answer_mask"].sum()) if path == "default" else int((batch["labels"] != -100).sum())
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
model_answer_logps(model, batch).sum().backward()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"path": path, "vocab": vocab, "answer_tokens": tokens, "peak_growth_mb": (peak - before) / 1024}))
"""


def measure(student: Path, vocab: int, path: str, answer_tokens: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(student), str(vocab), path, str(answer_tokens)],
                         capture_output=True, text=True, check=True, env={**os.environ, "OMP_NUM_THREADS": "2"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def build_tiny_student(root: Path) -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from apo_helpers import build_mini_dataset

    from driftalign.models import build_student

    return build_student("tiny", build_mini_dataset(root / "data"), root / "student", seed=0)


def run(vocabs: list[int], answer_tokens: int) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        student = build_tiny_student(Path(tmp))
        return [measure(student, v, path, answer_tokens) for v in vocabs for path in ("flat", "default")]


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", default="16384,152064")
    parser.add_argument("--answer-tokens", type=int, default=200)
    args = parser.parse_args()
    rows = run([int(v) for v in args.vocab.split(",")], args.answer_tokens)
    print(f"{'path':8} {'vocab':>8} {'answer tokens':>14} {'peak growth (MB)':>17}")
    for r in rows:
        print(f"{r['path']:8} {r['vocab']:>8} {r['answer_tokens']:>14} {r['peak_growth_mb']:>17.0f}")


if __name__ == "__main__":
    main()
