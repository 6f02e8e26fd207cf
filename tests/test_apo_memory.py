"""Peak log-prob memory of APO's default path does not grow with the answers (slow: ~2 min, ~4 GB)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


@pytest.mark.slow
def test_default_path_peak_memory_is_bounded_by_the_chunk_not_the_answers(tmp_path):
    from bench_logp_memory import build_tiny_student, measure

    student = build_tiny_student(tmp_path)
    vocab = 152_064                                                    # Qwen2.5-VL-7B's vocabulary
    short = measure(student, vocab, "default", 40)
    long = measure(student, vocab, "default", 160)
    flat = measure(student, vocab, "flat", 40)
    assert long["answer_tokens"] > 3 * short["answer_tokens"]
    chunk_logits_mb = 512 * vocab * 4 / 2**20                          # one [chunk_tokens(V) = 512, V] float32 tensor
    assert long["peak_growth_mb"] < 6 * chunk_logits_mb               # a few chunk-sized buffers, whatever S x T
    assert long["peak_growth_mb"] < 1.3 * short["peak_growth_mb"] + 100
    full_logits_mb = flat["answer_tokens"] * vocab * 4 / 2**20
    assert flat["peak_growth_mb"] > full_logits_mb                    # the flat reference path materialises them
    assert short["peak_growth_mb"] < flat["peak_growth_mb"] / 2
