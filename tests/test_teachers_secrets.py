"""The API key never appears in stdout/stderr, the request log, the store or any exported file."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from teachers_support import SECRET, FakeTeachers, make_dataset, write_teachers_yaml

from driftalign.teachers.server import start_server_in_thread

KEY_ENV = "DRIFTALIGN_TEST_TEACHER_KEY"


def _run(dataset: Path, teachers: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, KEY_ENV: SECRET, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "driftalign", "collect", str(dataset), "--teachers", str(teachers), *extra]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)


def _files_containing(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_key_never_leaks(tmp_path):
    dataset = make_dataset(tmp_path / "ds", 5)
    log = tmp_path / "req.jsonl"
    teachers = tmp_path / "t.yaml"
    outputs = []
    with start_server_in_thread(dataset, responder=FakeTeachers(), api_key=SECRET, log_path=log) as srv:
        write_teachers_yaml(teachers, srv.url, api_key_env=KEY_ENV)
        ok = _run(dataset, teachers, "--progress")
        assert ok.returncode == 0, ok.stderr
        outputs.append(ok)
    with start_server_in_thread(dataset, responder=FakeTeachers(), api_key="sk-another-key", log_path=log) as srv:
        write_teachers_yaml(teachers, srv.url, api_key_env=KEY_ENV, max_retries=0)
        wrong = _run(dataset, teachers, "--limit", "2", "--out", str(tmp_path / "out2"))  # fresh store
    assert wrong.returncode == 2 and "HTTP 401" in wrong.stderr and f"${KEY_ENV}" in wrong.stderr
    outputs.append(wrong)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    write_teachers_yaml(teachers, f"http://127.0.0.1:{port}/v1", api_key_env=KEY_ENV, max_retries=0)
    unreachable = _run(dataset, teachers, "--limit", "1", "--out", str(tmp_path / "out3"))
    assert unreachable.returncode == 2 and "cannot reach" in unreachable.stderr
    outputs.append(unreachable)

    for proc in outputs:
        assert SECRET not in proc.stdout and SECRET not in proc.stderr
    assert (dataset / "trajectories.jsonl").is_file() and log.is_file()
    assert (dataset / ".driftalign" / "collect.sqlite").is_file()
    assert _files_containing(tmp_path, SECRET.encode()) == []
