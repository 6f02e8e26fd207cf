"""The real simulated teachers behind the server, on the shared synthetic world (synth_world)."""

from __future__ import annotations

import httpx
import pytest
from teachers_support import read_log

from driftalign.data.dataset import load_dataset
from driftalign.errors import DatasetError
from driftalign.synth.teachers import TEACHER_NAMES
from driftalign.teachers.collect import collect
from driftalign.teachers.config import load_teachers
from driftalign.teachers.faults import FaultConfig
from driftalign.teachers.responder import SimulatedTeachers
from driftalign.teachers.server import start_server_in_thread

N = 8  # studies collected


def _local_teachers(url: str, prompt: str = "hinted"):
    """configs/teachers.local.yaml, pointed at the test server."""
    from pathlib import Path

    specs = load_teachers(Path(__file__).resolve().parents[1] / "configs" / "teachers.local.yaml")
    return [s.model_copy(update={"base_url": url, "prompt": prompt, "backoff_s": 0.01, "timeout_s": 2.0})
            for s in specs]


def test_collected_answers_equal_the_worlds_simulated_trajectories(synth_world, tmp_path):
    world = load_dataset(synth_world)
    log = tmp_path / "req.jsonl"
    faults = FaultConfig(rate_429=0.1, rate_500=0.1, rate_drop=0.05, retry_after_s=0.01, seed=0)  # seed 0 = the world's
    with start_server_in_thread(world, faults=faults, log_path=log) as srv:
        assert sorted(m["id"] for m in httpx.get(f"{srv.url}/models").json()["data"]) == sorted(TEACHER_NAMES)
        summary = collect(synth_world, _local_teachers(srv.url), out=tmp_path / "out", limit=N, progress=False)
    assert summary.done == N * len(TEACHER_NAMES) and summary.failed == 0
    got = {(t.study_id, t.teacher): t for t in load_dataset(tmp_path / "out").trajectories}
    want = {(t.study_id, t.teacher): t for t in world.trajectories if t.study_id in {s.study_id for s in world.studies[:N]}}
    assert set(got) == set(want)
    for key, traj in got.items():
        # same prompt, same seed -> the server's answer is the world's trajectory, word for word
        assert (traj.prompt, traj.response) == (want[key].prompt, want[key].response), key
        assert traj.meta["synthetic"] is True
        assert traj.meta["teacher_meta"]["claims"] == want[key].meta["claims"]
        assert traj.meta["refusal"] == want[key].meta["refusal"]  # our detector agrees with the simulator
        assert traj.meta["prompt_tokens"] == want[key].meta["prompt_tokens"]
    assert {"429", "500", "drop"} <= {e["outcome"] for e in read_log(log)}


def test_unhinted_prompt_is_answered_in_unhinted_mode(synth_world, tmp_path):
    with start_server_in_thread(synth_world) as srv:
        collect(synth_world, _local_teachers(srv.url, "unhinted")[:2], out=tmp_path / "out", limit=2, progress=False)
    rows = load_dataset(tmp_path / "out").trajectories
    assert len(rows) == 4 and {t.meta["teacher_meta"]["mode"] for t in rows} == {"unhinted"}


def test_server_refuses_a_non_synthetic_dataset(tmp_path):
    from teachers_support import make_dataset

    ds = load_dataset(make_dataset(tmp_path / "real", 2))
    with pytest.raises(DatasetError, match=r"study 's0000' \(and 1 more\) has no meta\['truth'\]"):
        SimulatedTeachers(ds.studies)


def test_serve_teachers_command(synth_world, tmp_path):
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    from driftalign.teachers.client import build_messages, image_data_url

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "req.jsonl"
    env = {**os.environ, "SIM_KEY": "sk-local-test"}
    cmd = [sys.executable, "-m", "driftalign", "serve-teachers", str(synth_world), "--port", str(port),
           "--log", str(log), "--api-key-env", "SIM_KEY", "--fault-500", "0.5", "--seed", "0"]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(100):
            try:
                httpx.get(f"{url}/models", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        world = load_dataset(synth_world, with_trajectories=False)
        study = world.studies[0]
        req = {"model": "sim-gpt-5", "messages": build_messages("x", [image_data_url(p) for p in world.image_paths(study)])}
        assert httpx.post(f"{url}/chat/completions", json=req).status_code == 401
        statuses = [httpx.post(f"{url}/chat/completions", json=req,
                               headers={"Authorization": "Bearer sk-local-test"}).status_code for _ in range(12)]
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    assert "serving synthetic teachers" in err and f"http://127.0.0.1:{port}/v1" in err
    # the prompt "x" is neither hinted nor unhinted: the simulators refuse it with a 400 unless a 500 is drawn
    assert set(statuses) == {400, 500}
    assert [e["outcome"] for e in read_log(log)][0] == "error_401"


def test_serve_config_rejects_fault_fractions_above_one(tmp_path):
    from driftalign.cli.teacher_commands import ServeConfig
    from driftalign.errors import ConfigError

    with pytest.raises(ConfigError, match="fault fractions sum to 1.2 > 1"):
        ServeConfig.load(None, data=tmp_path, fault_429=0.6, fault_drop=0.6)
