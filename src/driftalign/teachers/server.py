"""`serve-teachers`: an OpenAI-compatible HTTP server answering as the simulated teachers.

    POST /v1/chat/completions   model = teacher name; images as data URLs; answers + `usage`
    GET  /v1/models             the teachers served

The study is identified from the image bytes (the dataset's images are indexed by SHA-256 at
start-up). Errors follow OpenAI's shape `{"error": {"message", "type", "code"}}`: 404 for an
unknown model, 401 for a wrong Bearer token (when started with an API key), 400 for a request
that is not about one of the dataset's studies.

Fault injection (`FaultConfig`, deterministic given the seed): 429 with Retry-After, 500, slow
(sleeps `slow_s` before answering), malformed (invalid JSON body with status 200), drop (closes
the connection without a response). Every request is one JSON line in the request log: time,
teacher, study_id, prompt_hash (SHA-256 of the prompt text), outcome, latency_s, status.

Stack: the standard library's ThreadingHTTPServer (HTTP/1.1 keep-alive, one thread per
connection) — no extra dependency, and enough for ~hundreds of requests/s on 2 cores.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

from driftalign.data.dataset import Dataset, load_dataset
from driftalign.data.schema import Study
from driftalign.teachers.client import EXTENSION_FIELD
from driftalign.teachers.faults import (FAULT_429, FAULT_500, FAULT_DROP, FAULT_MALFORMED, FAULT_SLOW, OK,
                                        FaultConfig, FaultPlan)
from driftalign.teachers.responder import Responder, TeacherReply

DEFAULT_PORT = 8765
IMAGE_TOKENS = 85  # usage charged per image when the responder does not count prompt tokens


@dataclass
class Reply:
    """What the handler must do: send (status, body, headers), or drop the connection."""

    status: int
    body: bytes | None
    headers: dict[str, str] = field(default_factory=dict)
    outcome: str = OK
    delay_s: float = 0.0
    log: dict[str, Any] = field(default_factory=dict)


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj).encode("utf-8")


def openai_error(status: int, message: str, code: str, type_: str = "invalid_request_error") -> Reply:
    return Reply(status, _json_bytes({"error": {"message": message, "type": type_, "param": None, "code": code}}),
                 outcome=f"error_{status}")


def index_images(dataset: Dataset) -> dict[str, Study]:
    """SHA-256 of every image file -> its study."""
    index: dict[str, Study] = {}
    for study in dataset.studies:
        for path in dataset.image_paths(study):
            index[hashlib.sha256(path.read_bytes()).hexdigest()] = study
    return index


def split_message(body: dict[str, Any]) -> tuple[str, list[str]]:
    """(prompt text, image data URLs) of the request's last user message."""
    users = [m for m in body.get("messages") or [] if isinstance(m, dict) and m.get("role") == "user"]
    if not users:
        return "", []
    content = users[-1].get("content")
    if isinstance(content, str):
        return content, []
    texts, images = [], []
    for part in content if isinstance(content, list) else []:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "text":
            texts.append(str(part.get("text", "")))
        elif part.get("type") == "image_url":
            url = part.get("image_url", {})
            images.append(url.get("url", "") if isinstance(url, dict) else str(url))
    return "\n".join(texts), images


def decode_data_url(url: str) -> bytes:
    if not url.startswith("data:") or ";base64," not in url:
        raise ValueError("images must be base64 data URLs (data:image/png;base64,...)")
    return base64.b64decode(url.split(";base64,", 1)[1], validate=True)


def _estimate(text: str) -> int:
    return max(1, len(text) // 4)


def completion_body(model: str, prompt: str, n_images: int, reply: TeacherReply, max_tokens: int | None) -> dict:
    """An OpenAI chat.completion object; answers longer than max_tokens are cut (finish_reason 'length')."""
    text = reply.text
    completion = reply.completion_tokens if reply.completion_tokens is not None else _estimate(text)
    finish = "stop"
    if max_tokens is not None and completion > max_tokens:
        text = text[: max(1, len(text) * max_tokens // completion)]
        completion, finish = max_tokens, "length"
    if reply.prompt_tokens is not None:  # the responder's own count (the simulated teachers include images)
        prompt_tokens = reply.prompt_tokens
    else:
        prompt_tokens = _estimate(prompt) + IMAGE_TOKENS * n_images
    digest = hashlib.sha256(f"{model}:{prompt}:{text}".encode()).hexdigest()[:24]
    body = {
        "id": f"chatcmpl-{digest}", "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion,
                  "total_tokens": prompt_tokens + completion},
    }
    if reply.meta:  # an extension field OpenAI clients ignore; driftalign keeps it as meta["teacher_meta"]
        body[EXTENSION_FIELD] = reply.meta
    return body


class TeacherApp:
    """Transport-free request logic: request bytes in, `Reply` out."""

    def __init__(self, dataset: Dataset, responder: Responder, faults: FaultConfig, *,
                 latency_s: float = 0.0, api_key: str | None = None):
        self.responder = responder
        self.teachers = set(responder.teachers)
        self.images = index_images(dataset)
        self.faults = FaultPlan(faults)
        self.latency_s = latency_s
        self.api_key = api_key

    def models(self) -> dict[str, Any]:
        return {"object": "list", "data": [{"id": t, "object": "model", "owned_by": "driftalign-synthetic"}
                                           for t in sorted(self.teachers)]}

    def authorized(self, authorization: str | None) -> bool:
        if self.api_key is None:
            return True
        token = (authorization or "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(token.encode(), self.api_key.encode())

    def chat(self, raw: bytes, authorization: str | None) -> Reply:
        if not self.authorized(authorization):
            return openai_error(401, "Incorrect API key provided.", "invalid_api_key")
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError("request body must be a JSON object")
        except ValueError as e:
            return openai_error(400, f"invalid JSON body: {e}", "invalid_json")
        model = str(body.get("model", ""))
        if model not in self.teachers:
            return openai_error(404, f"The model `{model}` does not exist or you do not have access to it.",
                                "model_not_found")
        prompt, urls = split_message(body)
        study, problem = self._study_of(urls)
        if study is None:
            return openai_error(400, problem, "invalid_image")
        prompt_hash = hashlib.sha256(prompt.encode()).hexdigest()[:16]
        log = {"teacher": model, "study_id": study.study_id, "prompt_hash": prompt_hash}
        fault = self.faults.decide(f"{model}|{study.study_id}|{prompt_hash}")
        reply = self._reply_for(fault, model, study, prompt, len(urls),
                                body.get("max_tokens", body.get("max_completion_tokens")))
        reply.log, reply.delay_s = log, reply.delay_s + self.latency_s
        return reply

    def _study_of(self, urls: Sequence[str]) -> tuple[Study | None, str]:
        if not urls:
            return None, "the request has no image"
        studies = set()
        for url in urls:
            try:
                digest = hashlib.sha256(decode_data_url(url)).hexdigest()
            except (ValueError, binascii.Error) as e:
                return None, f"unreadable image: {e}"
            if digest not in self.images:
                return None, "an image does not belong to the served dataset"
            studies.add(self.images[digest].study_id)
        if len(studies) > 1:
            return None, f"the images belong to several studies {sorted(studies)}"
        return self.images[hashlib.sha256(decode_data_url(urls[0])).hexdigest()], ""

    def _reply_for(self, fault: str, model: str, study: Study, prompt: str, n_images: int,
                   max_tokens: Any) -> Reply:
        cfg = self.faults.config
        if fault == FAULT_429:
            reply = openai_error(429, "Rate limit reached (simulated).", "rate_limit_exceeded", "requests")
            reply.headers["Retry-After"] = f"{cfg.retry_after_s:g}"
            reply.outcome = FAULT_429
            return reply
        if fault == FAULT_500:
            reply = openai_error(500, "The server had an error (simulated).", "server_error", "server_error")
            reply.outcome = FAULT_500
            return reply
        if fault == FAULT_DROP:
            return Reply(0, None, outcome=FAULT_DROP)
        if fault == FAULT_MALFORMED:
            return Reply(200, b'{"id": "chatcmpl-broken", "choices": [{"message": ', outcome=FAULT_MALFORMED)
        try:
            answer = self.responder.reply(model, study, prompt)
        except ValueError as e:  # e.g. a prompt the simulated teachers cannot parse
            return openai_error(400, str(e), "invalid_prompt")
        limit = int(max_tokens) if isinstance(max_tokens, (int, float)) else None
        body = _json_bytes(completion_body(model, prompt, n_images, answer, limit))
        if fault == FAULT_SLOW:
            return Reply(200, body, outcome=FAULT_SLOW, delay_s=cfg.slow_s)
        return Reply(200, body)


class RequestLog:
    """One JSON line per request, flushed as written (thread-safe)."""

    def __init__(self, path: str | Path | None):
        self._file: IO[str] | None = None
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()
        self._lock = threading.Lock()

    def write(self, record: dict[str, Any]) -> None:
        with self._lock:
            if self._file is None or self._file.closed:  # a handler finishing after stop()
                return
            self._file.write(json.dumps(record) + "\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes: avoid 40 ms delayed-ACK stalls
    server: TeacherHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # the JSON request log replaces stderr lines
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            self._send(200, _json_bytes(self.server.app.models()))
        else:
            reply = openai_error(404, f"no route {self.path}", "not_found")
            self._send(reply.status, reply.body or b"")

    def do_POST(self) -> None:
        start = time.monotonic()
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            reply = openai_error(404, f"no route {self.path}", "not_found")
        else:
            reply = self.server.app.chat(raw, self.headers.get("Authorization"))
        if reply.delay_s:
            time.sleep(reply.delay_s)
        try:
            if reply.outcome == FAULT_DROP:
                self.close_connection = True
            else:
                self._send(reply.status, reply.body or b"", reply.headers)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (e.g. after a slow answer)
            self.close_connection = True
        self.server.log.write({"time": time.time(), **reply.log, "outcome": reply.outcome,
                               "status": reply.status or None, "latency_s": round(time.monotonic() - start, 4)})


class TeacherHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: TeacherApp, log: RequestLog):
        self.app = app
        self.log = log
        super().__init__(address, _Handler)


@dataclass
class RunningServer:
    """A server running in a background thread (tests, benchmarks). `stop()` shuts it down."""

    server: TeacherHTTPServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.server.server_address[0]}:{self.port}/v1"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.server.log.close()
        self.thread.join(timeout=5)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def make_server(dataset: Dataset | str | Path, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                responder: Responder | None = None, faults: FaultConfig | None = None, latency_s: float = 0.0,
                api_key: str | None = None, log_path: str | Path | None = None) -> TeacherHTTPServer:
    """Build (bind) the server; default responder = the seven simulated teachers."""
    if not isinstance(dataset, Dataset):
        dataset = load_dataset(dataset, with_trajectories=False, verify_images=False)
    faults = faults or FaultConfig()
    if responder is None:
        from driftalign.teachers.responder import SimulatedTeachers
        responder = SimulatedTeachers(dataset.studies, seed=faults.seed)
    app = TeacherApp(dataset, responder, faults, latency_s=latency_s, api_key=api_key)
    return TeacherHTTPServer((host, port), app, RequestLog(log_path))


def start_server_in_thread(dataset: Dataset | str | Path, *, host: str = "127.0.0.1", port: int = 0,
                           **kwargs: Any) -> RunningServer:
    """Start `make_server(...)` in a daemon thread; port 0 picks a free port (see `.url`)."""
    server = make_server(dataset, host=host, port=port, **kwargs)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True,
                              name="driftalign-teachers")
    thread.start()
    return RunningServer(server, thread)
