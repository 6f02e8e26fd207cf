"""The simulated-teacher HTTP server: OpenAI shapes, errors, fault injection, request log."""

from __future__ import annotations

import base64
import json
import time
from collections import Counter

import httpx
import pytest
from teachers_support import FAKE_TEACHERS, FakeTeachers, make_dataset, read_log

from driftalign.data.dataset import load_dataset
from driftalign.teachers.client import build_messages, image_data_url
from driftalign.teachers.faults import FAULT_KINDS, FaultConfig, FaultPlan
from driftalign.teachers.responder import TeacherReply
from driftalign.teachers.server import start_server_in_thread


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return load_dataset(make_dataset(tmp_path_factory.mktemp("srv") / "ds", 6))


def _request(ds, study_idx: int = 0, model: str = "alpha", prompt: str = "Explain.", **params) -> dict:
    study = ds.studies[study_idx]
    urls = [image_data_url(p) for p in ds.image_paths(study)]
    return {"model": model, "messages": build_messages(prompt, urls), **params}


def test_models_and_chat_completion_shape(dataset, tmp_path):
    log = tmp_path / "req.jsonl"
    with start_server_in_thread(dataset, responder=FakeTeachers(), log_path=log) as srv:
        models = httpx.get(f"{srv.url}/models").json()
        assert [m["id"] for m in models["data"]] == sorted(FAKE_TEACHERS)
        body = httpx.post(f"{srv.url}/chat/completions", json=_request(dataset, 3, "beta")).json()
    assert body["object"] == "chat.completion" and body["model"] == "beta"
    choice = body["choices"][0]
    assert choice["message"]["content"].startswith("beta reads s0003")
    assert choice["finish_reason"] == "stop"
    assert body["usage"]["prompt_tokens"] == 40  # the responder's count is reported as is
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    (entry,) = read_log(log)
    assert entry["teacher"] == "beta" and entry["study_id"] == "s0003" and entry["outcome"] == "ok"
    assert entry["status"] == 200 and len(entry["prompt_hash"]) == 16


def test_usage_estimated_when_the_responder_does_not_count(dataset):
    class Uncounted(FakeTeachers):
        def reply(self, teacher, study, prompt):
            return TeacherReply("x" * 80)

    with start_server_in_thread(dataset, responder=Uncounted()) as srv:
        body = httpx.post(f"{srv.url}/chat/completions", json=_request(dataset, 3, prompt="p" * 40)).json()
    # 40 prompt chars / 4 + 85 per image (study 3 has two images); 80 answer chars / 4
    assert body["usage"]["prompt_tokens"] == 10 + 2 * 85 and body["usage"]["completion_tokens"] == 20


def test_max_tokens_cuts_the_answer(dataset):
    with start_server_in_thread(dataset, responder=FakeTeachers()) as srv:
        body = httpx.post(f"{srv.url}/chat/completions", json=_request(dataset, max_tokens=3)).json()
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 3
    assert len(body["choices"][0]["message"]["content"]) < 40


def test_errors_unknown_model_wrong_key_foreign_image(dataset):
    with start_server_in_thread(dataset, responder=FakeTeachers(), api_key="right-key") as srv:
        url = f"{srv.url}/chat/completions"
        ok_headers = {"Authorization": "Bearer right-key"}
        r = httpx.post(url, json=_request(dataset), headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
        assert httpx.post(url, json=_request(dataset)).status_code == 401  # no header at all
        r = httpx.post(url, json=_request(dataset, model="gpt-9"), headers=ok_headers)
        assert r.status_code == 404 and "`gpt-9` does not exist" in r.json()["error"]["message"]
        foreign = base64.b64encode(b"not one of ours").decode()
        req = {"model": "alpha", "messages": build_messages("x", [f"data:image/png;base64,{foreign}"])}
        r = httpx.post(url, json=req, headers=ok_headers)
        assert r.status_code == 400 and "does not belong" in r.json()["error"]["message"]
        r = httpx.post(url, content=b"{not json", headers=ok_headers)
        assert r.status_code == 400
        assert httpx.post(url, json=_request(dataset), headers=ok_headers).status_code == 200


def test_fault_plan_is_deterministic_and_close_to_the_fractions():
    cfg = FaultConfig(rate_429=0.1, rate_500=0.1, rate_slow=0.05, rate_malformed=0.1, rate_drop=0.1, seed=7)
    keys = [f"k{i}" for i in range(4000)]
    first = [FaultPlan(cfg).decide(k) for k in keys]
    again = FaultPlan(cfg)
    assert [again.decide(k) for k in reversed(keys)][::-1] == first  # order does not matter
    counts = Counter(first)
    for kind, rate in cfg.rates().items():
        assert abs(counts[kind] / len(keys) - rate) < 0.02, kind
    assert set(counts) == set(FAULT_KINDS) | {"ok"}
    # the 2nd occurrence of a key draws afresh, and a different seed gives different decisions
    assert [again.decide(k) for k in keys] != first
    assert [FaultPlan(FaultConfig(rate_429=0.5, seed=8)).decide(k) for k in keys] != \
        [FaultPlan(FaultConfig(rate_429=0.5, seed=7)).decide(k) for k in keys]


def test_fault_config_rejects_bad_fractions():
    with pytest.raises(ValueError, match="sum to"):
        FaultConfig(rate_429=0.6, rate_500=0.6)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        FaultConfig(rate_drop=-0.1)


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_each_fault_kind_as_the_client_sees_it(dataset, tmp_path, kind):
    log = tmp_path / "req.jsonl"
    cfg = FaultConfig(**{f"rate_{kind}": 1.0}, slow_s=0.6, retry_after_s=2)
    with start_server_in_thread(dataset, responder=FakeTeachers(), faults=cfg, log_path=log) as srv:
        url = f"{srv.url}/chat/completions"
        if kind == "drop":
            with pytest.raises(httpx.RemoteProtocolError):
                httpx.post(url, json=_request(dataset))
        elif kind == "slow":
            with pytest.raises(httpx.ReadTimeout):
                httpx.post(url, json=_request(dataset), timeout=0.2)
            time.sleep(0.6)  # let the server finish its slow answer (and log it) before stopping
        else:
            r = httpx.post(url, json=_request(dataset))
            if kind == "429":
                assert r.status_code == 429 and r.headers["retry-after"] == "2"
            elif kind == "500":
                assert r.status_code == 500
            else:
                assert r.status_code == 200
                with pytest.raises(json.JSONDecodeError):
                    r.json()
    outcomes = [e["outcome"] for e in read_log(log)]
    assert outcomes == [kind]
