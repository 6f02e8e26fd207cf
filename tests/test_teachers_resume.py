"""SIGKILL `driftalign collect` mid-way, run it again: same rows, no duplicates, nothing asked twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

from teachers_support import FAKE_TEACHERS, FakeTeachers, make_dataset, read_log, store_rows, write_teachers_yaml

from driftalign.teachers.collect import default_store_path
from driftalign.teachers.server import start_server_in_thread

N_STUDIES = 40
KILL_AFTER = 20  # stored answers


def _collect_cmd(dataset, teachers) -> list[str]:
    return [sys.executable, "-m", "driftalign", "collect", str(dataset), "--teachers", str(teachers), "--no-progress"]


def _wait_for_answers(store, proc, n: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "collect finished before it could be killed"
        if store.exists():
            try:
                if sum(r[3] == "ok" for r in store_rows(store)) >= n:
                    return
            except Exception:  # the store is being created
                pass
        time.sleep(0.05)
    raise AssertionError("collect stored too few answers in time")


def test_sigkill_then_rerun_completes_only_what_is_missing(tmp_path):
    dataset = make_dataset(tmp_path / "ds", N_STUDIES)
    log = tmp_path / "req.jsonl"
    teachers = tmp_path / "t.yaml"
    store = default_store_path(dataset)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with start_server_in_thread(dataset, responder=FakeTeachers(), latency_s=0.15, log_path=log) as srv:
        write_teachers_yaml(teachers, srv.url, max_concurrency=2)
        proc = subprocess.Popen(_collect_cmd(dataset, teachers), env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        _wait_for_answers(store, proc, KILL_AFTER)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        killed_at = time.time()
        assert proc.returncode == -signal.SIGKILL
        before = {(r[0], r[1], r[2]): r[4] for r in store_rows(store) if r[3] == "ok"}
        assert KILL_AFTER <= len(before) < N_STUDIES * len(FAKE_TEACHERS)
        assert not (dataset / "trajectories.jsonl").exists()  # export happens at the end only

        rerun = subprocess.run(_collect_cmd(dataset, teachers), env=env, capture_output=True, text=True, timeout=120)
        assert rerun.returncode == 0, rerun.stderr
        time.sleep(0.2)

    rows = store_rows(store)
    assert len(rows) == N_STUDIES * len(FAKE_TEACHERS) and {r[3] for r in rows} == {"ok"}
    after = {(r[0], r[1], r[2]): r[4] for r in rows}
    assert all(after[k] == v for k, v in before.items())  # no stored answer lost or replaced
    lines = [json.loads(x) for x in (dataset / "trajectories.jsonl").read_text().splitlines()]
    pairs = Counter((x["study_id"], x["teacher"]) for x in lines)
    assert len(pairs) == N_STUDIES * len(FAKE_TEACHERS) and set(pairs.values()) == {1}
    # The server never saw a request, after the kill, for an answer that was already stored.
    stored_pairs = {(sid, teacher) for sid, teacher, _ in before}
    asked_again = [e for e in read_log(log) if e["time"] > killed_at and (e["study_id"], e["teacher"]) in stored_pairs]
    assert asked_again == []
    ok_per_pair = Counter((e["study_id"], e["teacher"]) for e in read_log(log) if e["outcome"] == "ok")
    assert all(ok_per_pair[p] == 1 for p in stored_pairs)
    # at most the requests in flight at the kill (2 workers x 3 teachers) were answered twice
    assert sum(n - 1 for n in ok_per_pair.values()) <= 2 * len(FAKE_TEACHERS)
    assert "done" in rerun.stdout and f"{N_STUDIES * len(FAKE_TEACHERS)} trajectories" in rerun.stdout


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(tmp_path):
    dataset = make_dataset(tmp_path / "ds", 20)
    teachers = tmp_path / "t.yaml"
    store = default_store_path(dataset)
    with start_server_in_thread(dataset, responder=FakeTeachers(), latency_s=0.15) as srv:
        write_teachers_yaml(teachers, srv.url, max_concurrency=1)
        proc = subprocess.Popen(_collect_cmd(dataset, teachers), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        _wait_for_answers(store, proc, 5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 2, err
        assert "interrupted" in err and "run the same command again" in err and "Traceback" not in err
        n_before = sum(r[3] == "ok" for r in store_rows(store))
        rerun = subprocess.run(_collect_cmd(dataset, teachers), capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert 5 <= n_before < 60 and len(store_rows(store)) == 60
