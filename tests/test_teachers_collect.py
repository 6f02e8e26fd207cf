"""End-to-end collection against the local server: faults, resume, failures, no duplicates."""

from __future__ import annotations

import json
import socket
import time
from collections import Counter

import pytest
from teachers_support import FAKE_TEACHERS, FakeTeachers, make_dataset, read_log, store_rows, write_teachers_yaml

from driftalign.data.dataset import load_dataset
from driftalign.errors import ConfigError
from driftalign.teachers.collect import CollectError, collect, default_store_path
from driftalign.teachers.faults import FAULT_KINDS, FaultConfig
from driftalign.teachers.server import start_server_in_thread

N_STUDIES = 12
ALL_FAULTS = FaultConfig(rate_429=0.1, rate_500=0.1, rate_slow=0.1, rate_malformed=0.1, rate_drop=0.1,
                         slow_s=0.6, retry_after_s=0.05, seed=3)


@pytest.fixture()
def dataset(tmp_path):
    return make_dataset(tmp_path / "ds", N_STUDIES)


def _pairs(path) -> Counter:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return Counter((r["study_id"], r["teacher"]) for r in rows)


def test_full_collection_with_every_fault_kind(dataset, tmp_path):
    log = tmp_path / "req.jsonl"
    teachers = write_teachers_yaml(tmp_path / "t.yaml", "", timeout_s=0.4)
    with start_server_in_thread(dataset, responder=FakeTeachers(), faults=ALL_FAULTS, log_path=log) as srv:
        write_teachers_yaml(teachers, srv.url, timeout_s=0.4)
        summary = collect(dataset, teachers, progress=False)
        time.sleep(ALL_FAULTS.slow_s)  # slow requests the client gave up on are logged when they end
        n_requests = len(read_log(log))
        again = collect(dataset, teachers, progress=False)  # everything is stored: asks nothing
        assert len(read_log(log)) == n_requests
    outcomes = Counter(e["outcome"] for e in read_log(log))
    assert set(FAULT_KINDS) <= set(outcomes), outcomes  # every fault kind was exercised
    assert summary.done == N_STUDIES * len(FAKE_TEACHERS) and summary.failed == 0
    assert again.done == summary.done and sum(t.new for t in again.teachers) == 0
    pairs = _pairs(dataset / "trajectories.jsonl")
    assert len(pairs) == N_STUDIES * len(FAKE_TEACHERS) and set(pairs.values()) == {1}  # no duplicates
    ds = load_dataset(dataset)
    gamma = {t.study_id: t for t in ds.trajectories if t.teacher == "gamma"}
    assert [sid for sid, t in sorted(gamma.items()) if t.meta["refusal"]] == ["s0000", "s0003", "s0006", "s0009"]
    meta = ds.trajectories[0].meta
    assert {"model", "prompt_tokens", "completion_tokens", "latency_s", "finish_reason", "refusal", "attempts",
            "cost_usd"} <= set(meta)
    assert max(t.meta["attempts"] for t in ds.trajectories) > 1
    by_teacher = {t.teacher: t for t in summary.teachers}
    assert by_teacher["gamma"].refused == 4 and by_teacher["alpha"].refused == 0
    assert by_teacher["alpha"].tokens_in == sum(t.meta["prompt_tokens"] for t in ds.trajectories if t.teacher == "alpha")
    expected_cost = sum(t.meta["prompt_tokens"] * 0.001 + t.meta["completion_tokens"] * 0.002
                        for t in ds.trajectories if t.teacher == "alpha") / 1000
    assert by_teacher["alpha"].cost_usd == pytest.approx(expected_cost, rel=1e-6)
    assert (dataset / ".driftalign" / "collect_summary.json").is_file()


def test_failed_rows_are_retried_on_the_next_run(dataset, tmp_path):
    teachers = tmp_path / "t.yaml"
    with start_server_in_thread(dataset, responder=FakeTeachers(), faults=FaultConfig(rate_500=1.0)) as srv:
        write_teachers_yaml(teachers, srv.url, max_retries=1)
        first = collect(dataset, teachers, limit=4, progress=False)
    assert first.done == 0 and first.failed == 4 * len(FAKE_TEACHERS)
    assert "HTTP 500" in first.errors[0]
    rows = store_rows(default_store_path(dataset))
    assert {r[3] for r in rows} == {"failed"}
    with start_server_in_thread(dataset, responder=FakeTeachers()) as srv:
        write_teachers_yaml(teachers, srv.url)
        second = collect(dataset, teachers, limit=4, progress=False)
    assert second.done == 4 * len(FAKE_TEACHERS) and second.failed == 0
    assert {r[3] for r in store_rows(default_store_path(dataset))} == {"ok"}
    assert len(store_rows(default_store_path(dataset))) == 4 * len(FAKE_TEACHERS)


def test_wrong_key_fails_clearly_without_retries(dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("TEACHER_KEY", "sk-wrong-key")
    log = tmp_path / "req.jsonl"
    teachers = tmp_path / "t.yaml"
    with start_server_in_thread(dataset, responder=FakeTeachers(), api_key="sk-right", log_path=log) as srv:
        write_teachers_yaml(teachers, srv.url, names=["alpha"], api_key_env="TEACHER_KEY", max_concurrency=1)
        with pytest.raises(CollectError, match=r"teacher 'alpha': HTTP 401 .*Incorrect API key.*\(check \$TEACHER_KEY\)") as e:
            collect(dataset, teachers, progress=False)
    assert len(read_log(log)) == 1  # one request, no retries, the teacher stopped
    assert e.value.summary.teachers[0].aborted and e.value.summary.done == 0


def test_unknown_model_stops_the_teacher_others_finish(dataset, tmp_path):
    teachers = tmp_path / "t.yaml"
    with start_server_in_thread(dataset, responder=FakeTeachers()) as srv:
        write_teachers_yaml(teachers, srv.url, names=["alpha", "nope"], max_concurrency=1)
        with pytest.raises(CollectError, match=r"teacher 'nope': HTTP 404 .*`nope` does not exist") as e:
            collect(dataset, teachers, progress=False)
    stats = {t.teacher: t for t in e.value.summary.teachers}
    assert stats["alpha"].done == N_STUDIES and stats["nope"].done == 0
    assert _pairs(dataset / "trajectories.jsonl") == Counter({(f"s{i:04d}", "alpha"): 1 for i in range(N_STUDIES)})


def test_unreachable_url_fails_clearly(dataset, tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    teachers = write_teachers_yaml(tmp_path / "t.yaml", f"http://127.0.0.1:{port}/v1", names=["alpha"], max_retries=1)
    with pytest.raises(CollectError, match=rf"teacher 'alpha': cannot reach http://127.0.0.1:{port}/v1: .*ConnectError"):
        collect(dataset, teachers, progress=False)


def test_missing_key_env_var_fails_before_any_request(dataset, tmp_path, monkeypatch):
    monkeypatch.delenv("NOT_SET_KEY", raising=False)
    teachers = write_teachers_yaml(tmp_path / "t.yaml", "http://127.0.0.1:9/v1", api_key_env="NOT_SET_KEY")
    with pytest.raises(ConfigError, match="environment variable NOT_SET_KEY"):
        collect(dataset, teachers, progress=False)


def test_out_directory_limit_split_and_merge(dataset, tmp_path):
    out = tmp_path / "out"
    teachers = tmp_path / "t.yaml"
    with start_server_in_thread(dataset, responder=FakeTeachers()) as srv:
        write_teachers_yaml(teachers, srv.url, names=["alpha"])
        collect(dataset, teachers, out=out, limit=5, progress=False)
        write_teachers_yaml(teachers, srv.url, names=["beta"])
        collect(dataset, teachers, out=out, limit=3, progress=False)
    ds = load_dataset(out)  # a complete dataset directory of its own
    assert len(ds.studies) == N_STUDIES
    assert Counter(t.teacher for t in ds.trajectories) == {"alpha": 5, "beta": 3}  # alpha kept, beta added
    assert not (dataset / "trajectories.jsonl").exists()
    assert default_store_path(out).is_file()


def test_empty_selection_fails_clearly(dataset, tmp_path):
    from driftalign.errors import DatasetError

    teachers = write_teachers_yaml(tmp_path / "t.yaml", "http://127.0.0.1:9/v1")
    with pytest.raises(DatasetError, match=r"no studies to collect \(split='test'"):
        collect(dataset, teachers, split="test", progress=False)
