"""Benchmark: `driftalign drift` on a 2,000-study synthetic world (7 teachers) must take < 3 minutes
on 2 CPU cores with a cold embedding cache. Slow: run with `pytest -m slow -s tests/test_drift_benchmark.py`."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from driftalign.cli.app import main

BUDGET_S = 180.0


@pytest.mark.slow
def test_drift_on_2000_studies_within_budget(tmp_path: Path) -> None:
    from driftalign.synth.world import build_world

    world = build_world(tmp_path / "world2000", studies=2000, seed=0, image_size=64, teachers="all", progress=False)
    start, cpu = time.perf_counter(), time.process_time()
    main(["drift", str(world), "--out", str(tmp_path / "out"), "--no-plots"])
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    doc = json.loads((tmp_path / "out" / "drift.json").read_text())
    load = os.getloadavg()[0]
    print(f"\n[synthetic] drift on {doc['n_studies']} studies / {doc['n_trajectories']} trajectories: "
          f"wall {wall:.1f} s, process CPU {cpu:.1f} s, phases {doc['timings_s']}, load average {load:.1f}")
    assert doc["n_trajectories"] >= 14000
    assert wall < BUDGET_S, f"drift took {wall:.0f} s (> {BUDGET_S:.0f} s) at load average {load:.1f} on this machine"
