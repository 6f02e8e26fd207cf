"""Shared fixtures: a small synthetic world and a tiny student built from it (session-scoped).

Everything is built locally from code: no hub, no network (HF_HUB_OFFLINE is forced on).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_DISABLED", "true")

SLOW_TIMEOUT_S = 3600  # pytest-timeout for @pytest.mark.slow tests without their own timeout (pyproject: 600 s)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Slow checks (demo, toy pipelines, 2,000-study worlds) get an hour instead of the quick suite's 600 s."""
    for item in items:
        if item.get_closest_marker("slow") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(SLOW_TIMEOUT_S))


@pytest.fixture(scope="session", autouse=True)
def _torch_threads() -> None:
    try:
        import torch
    except ImportError:  # pragma: no cover
        return
    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def synth_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic world (80 studies, 64 px, all seven simulated teachers, seed 0)."""
    from driftalign.synth.world import build_world

    out = tmp_path_factory.mktemp("world") / "synth80"
    return build_world(out, studies=80, seed=0, image_size=64, teachers="all")


@pytest.fixture(scope="session")
def tiny_student(synth_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised tiny Qwen2.5-VL-architecture student (tokenizer trained on synth_world)."""
    from driftalign.models import build_student

    out = tmp_path_factory.mktemp("student") / "tiny"
    return build_student("tiny", synth_world, out, seed=0)


@pytest.fixture(scope="session")
def mini_world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Six studies with random 56 px images, two teachers, a consensus file and a tiny student built on them.

    Shared by the APO, GRPO and DDSampling tests; treat it as read-only (write under your own tmp dir).
    """
    from apo_helpers import build_mini_dataset, write_consensus

    from driftalign.models import build_student

    root = tmp_path_factory.mktemp("mini")
    data = build_mini_dataset(root / "data")
    return {"data": data, "student": build_student("tiny", data, root / "student", seed=0),
            "consensus": write_consensus(root / "consensus.jsonl", [f"s{i:03d}" for i in range(6)])}


@pytest.fixture(scope="session")
def hub_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny look-alike of the hub repo Qwen/Qwen2.5-VL-7B-Instruct (tests/hub_checkpoint.py).

    The hub's files, formats, weight names, special-token ids and chat template, with tiny widths, random
    bf16 weights (seed 0) and a small trained vocabulary padded to Qwen's 151,643 regular ids. Read-only.
    """
    from hub_checkpoint import build_hub_checkpoint

    return build_hub_checkpoint(tmp_path_factory.mktemp("hub") / "Qwen2.5-VL-7B-Instruct", seed=0)
