"""The retrying client against tiny scripted servers: Retry-After timing, no retry on 4xx, scrubbing."""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from teachers_support import SECRET

from driftalign.teachers.client import RequestFailed, TeacherClient, backoff_delay, estimate_tokens, parse_completion
from driftalign.teachers.config import TeacherSpec
from driftalign.teachers.ratelimit import RateLimiter
from driftalign.teachers.redact import Redactor

COMPLETION = {"choices": [{"message": {"role": "assistant", "content": "ok answer"}, "finish_reason": "stop"}],
              "usage": {"prompt_tokens": 11, "completion_tokens": 3}}


class Scripted:
    """A server answering from a script of (status, headers, body) and recording arrival times."""

    def __init__(self, script: list[tuple[int, dict[str, str], bytes]]):
        self.script = list(script)
        self.arrivals: list[float] = []
        self.auth: list[str | None] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.arrivals.append(time.monotonic())
                outer.auth.append(self.headers.get("Authorization"))
                status, headers, body = outer.script.pop(0) if len(outer.script) > 1 else outer.script[0]
                self.send_response(status)
                for k, v in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> Scripted:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"


def _spec(url: str, **kw) -> TeacherSpec:
    base = {"name": "t", "base_url": url, "model": "m", "max_retries": 3, "backoff_s": 0.01, "timeout_s": 2.0,
            "params": {"max_tokens": 64}}
    return TeacherSpec(**{**base, **kw})


def _complete(spec: TeacherSpec, key: str | None = None):
    async def run():
        async with httpx.AsyncClient() as http:
            client = TeacherClient(spec, http, RateLimiter(6000, 1e9), api_key=key, rng=random.Random(0))
            return await client.complete("prompt", ["data:image/png;base64,AAAA"])
    return asyncio.run(run())


def test_retry_after_is_honoured():
    script = [(429, {"Retry-After": "1"}, b'{"error": {"message": "slow down"}}'),
              (200, {}, json.dumps(COMPLETION).encode())]
    with Scripted(script) as srv:
        result = _complete(_spec(srv.url))
    gap = srv.arrivals[1] - srv.arrivals[0]
    assert 1.0 <= gap < 1.4, gap  # Retry-After 1 s plus at most 10% jitter (+ scheduling)
    assert result.attempts == 2 and result.text == "ok answer"
    assert (result.prompt_tokens, result.completion_tokens, result.finish_reason) == (11, 3, "stop")


def test_5xx_retried_until_success_and_exhaustion_reported():
    script = [(502, {}, b"bad gateway"), (503, {}, b"unavailable"), (200, {}, json.dumps(COMPLETION).encode())]
    with Scripted(script) as srv:
        assert _complete(_spec(srv.url)).attempts == 3
    with Scripted([(500, {}, b'{"error": {"message": "boom"}}')]) as srv:
        with pytest.raises(RequestFailed, match=r"gave up after 4 attempt\(s\): HTTP 500 .*: boom") as e:
            _complete(_spec(srv.url))
    assert len(srv.arrivals) == 4 and e.value.fatal is False


@pytest.mark.parametrize("status, fatal", [(400, False), (401, True), (404, True), (422, False)])
def test_4xx_not_retried(status, fatal):
    with Scripted([(status, {}, b'{"error": {"message": "image too large"}}')]) as srv:
        with pytest.raises(RequestFailed, match=rf"HTTP {status} .*image too large") as e:
            _complete(_spec(srv.url))
    assert len(srv.arrivals) == 1
    assert e.value.status == status and e.value.fatal is fatal and e.value.attempts == 1


def test_key_sent_as_bearer_and_scrubbed_from_errors():
    body = json.dumps({"error": {"message": f"Incorrect API key provided: {SECRET}"}}).encode()
    with Scripted([(401, {}, body)]) as srv:
        with pytest.raises(RequestFailed) as e:
            _complete(_spec(srv.url), key=SECRET)
    assert srv.auth == [f"Bearer {SECRET}"]
    assert SECRET not in e.value.message and "Incorrect API key provided: ***" in e.value.message


def test_malformed_200_is_retried():
    with Scripted([(200, {}, b'{"choices": ['), (200, {}, json.dumps(COMPLETION).encode())]) as srv:
        assert _complete(_spec(srv.url)).attempts == 2


def _complete_recording(spec: TeacherSpec, should_stop) -> tuple[list[float], object]:
    """complete() with an injected sleep that records its delays instead of waiting."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def run():
        async with httpx.AsyncClient() as http:
            client = TeacherClient(spec, http, RateLimiter(6000, 1e9), api_key=None, rng=random.Random(0),
                                   sleep=sleep, should_stop=should_stop)
            return await client.complete("prompt", [])
    try:
        return slept, asyncio.run(run())
    except RequestFailed as e:
        return slept, e


def test_backoff_is_slept_between_attempts_and_stop_ends_retries():
    with Scripted([(503, {}, b"unavailable")]) as srv:
        slept, failed = _complete_recording(_spec(srv.url, backoff_s=1.0), should_stop=lambda: False)
    assert isinstance(failed, RequestFailed) and failed.attempts == 4 and len(srv.arrivals) == 4
    assert len(slept) == 3 and all(2 ** k / 2 <= d <= 2 ** k for k, d in enumerate(slept))  # jittered 1, 2, 4 s
    # stopped while failing (another worker found the teacher dead): no further attempt, no back-off slept
    with Scripted([(503, {}, b"unavailable")]) as srv:
        slept, failed = _complete_recording(_spec(srv.url), should_stop=lambda: len(srv.arrivals) >= 2)
    assert isinstance(failed, RequestFailed) and len(srv.arrivals) == 2 and len(slept) == 1
    assert failed.attempts == 2 and "gave up after 2 attempt(s): HTTP 503" in failed.message
    with Scripted([(503, {}, b"unavailable")]) as srv:
        slept, failed = _complete_recording(_spec(srv.url), should_stop=lambda: True)
    assert isinstance(failed, RequestFailed) and failed.attempts == 0 and srv.arrivals == [] and slept == []


def test_backoff_delay_policy():
    rng = random.Random(0)
    delays = [backoff_delay(a, 0.5, None, rng) for a in (1, 2, 3, 4)]
    for attempt, d in zip((1, 2, 3, 4), delays):
        full = 0.5 * 2 ** (attempt - 1)
        assert full / 2 <= d <= full  # jittered in [50%, 100%] of the exponential step
    assert backoff_delay(30, 0.5, None, rng) <= 60.0  # capped
    assert 3.0 <= backoff_delay(1, 0.5, 3.0, rng) <= 3.3  # Retry-After wins


def test_parse_completion_and_estimate():
    assert parse_completion(COMPLETION) == ("ok answer", "stop", 11, 3)
    parts = {"choices": [{"message": {"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}}]}
    assert parse_completion(parts)[0] == "ab"
    with pytest.raises(ValueError, match="no choices"):
        parse_completion({"choices": []})
    assert estimate_tokens("x" * 40, 2, 100) == 10 + 1 + 2 * 800 + 100


def test_redactor_masks_keys_and_bearer_tokens():
    r = Redactor([SECRET, None])
    assert r.scrub(f"key={SECRET} header='Authorization: Bearer abc.def'") == \
        "key=*** header='Authorization: Bearer ***'"
