"""One teacher's HTTP client: an OpenAI chat-completions request with images, retried politely.

Request (OpenAI chat format, images as base64 data URLs, several per study):

    {"model": M, "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,..."}}, ...,
        {"type": "text", "text": PROMPT}]}], **params}

Retry policy (`TeacherClient.complete`, run by tenacity): 429, 5xx, timeouts, connection errors and
malformed 200 bodies are retried up to `max_retries` times, waiting `Retry-After` when the server
sends it, else exponential back-off with jitter: backoff_s * 2**(attempt-1) * U(0.5, 1), capped at
60 s (`backoff_delay`; tenacity's own jittered waits neither read Retry-After nor take the client's
seeded rng). A stopped teacher (`should_stop`) makes no further attempt and sleeps no further back-off.
401/403/404 are fatal for the teacher (every other request would fail the same way); other 4xx
fail the one request with the server's message; neither is retried. Every message is scrubbed of
the API key before it leaves this module.
"""

from __future__ import annotations

import asyncio
import base64
import json
import mimetypes
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from driftalign.teachers.config import TeacherSpec
from driftalign.teachers.ratelimit import RateLimiter
from driftalign.teachers.redact import Redactor

MAX_BACKOFF_S = 60.0
IMAGE_TOKEN_ESTIMATE = 800  # a chest X-ray at the providers' default detail; corrected by `usage`
FATAL_STATUSES = frozenset({401, 403, 404})
EXTENSION_FIELD = "driftalign_meta"  # optional extra field of the simulated-teacher server


@dataclass(frozen=True)
class ChatResult:
    text: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    attempts: int
    model: str
    extra: dict[str, Any] | None = None  # the server's `driftalign_meta` extension (simulated teachers)


class RequestFailed(Exception):
    """A request that will not succeed in this run. `fatal` = the whole teacher should stop."""

    def __init__(self, message: str, *, attempts: int, status: int | None = None, fatal: bool = False,
                 unreachable: bool = False):
        super().__init__(message)
        self.message = message
        self.attempts = attempts
        self.status = status
        self.fatal = fatal
        self.unreachable = unreachable


class _Retryable(Exception):
    """One failed attempt that the retry policy may repeat (raised inside tenacity's attempt block)."""

    def __init__(self, message: str, *, retry_after: float | None = None, unreachable: bool = False):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.unreachable = unreachable


@lru_cache(maxsize=128)
def image_data_url(path: Path) -> str:
    """`data:<mime>;base64,...` for one image file (cached: every teacher sends the same images)."""
    mime = mimetypes.guess_type(path.name)[0] or "image/png"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def build_messages(prompt: str, image_urls: Sequence[str]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [{"type": "image_url", "image_url": {"url": url}} for url in image_urls]
    parts.append({"type": "text", "text": prompt})
    return [{"role": "user", "content": parts}]


def estimate_tokens(prompt: str, n_images: int, max_tokens: int) -> int:
    """Upper-ish estimate for the tpm bucket: ~4 characters a token, fixed cost per image, max_tokens."""
    return len(prompt) // 4 + 1 + n_images * IMAGE_TOKEN_ESTIMATE + max_tokens


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds form; HTTP dates are rare on APIs)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def backoff_delay(attempt: int, base_s: float, retry_after: float | None, rng: random.Random) -> float:
    """Seconds to wait before attempt+1: Retry-After (+ up to 10% jitter) or jittered exponential."""
    if retry_after is not None:
        return retry_after * (1.0 + 0.1 * rng.random())
    return min(MAX_BACKOFF_S, base_s * 2 ** (attempt - 1)) * rng.uniform(0.5, 1.0)


def error_message(response: httpx.Response) -> str:
    """The server's own error text (OpenAI `{"error": {"message": ...}}` or the body's start)."""
    try:
        body = response.json()
        err = body.get("error") if isinstance(body, dict) else None
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str):
            return err
    except (json.JSONDecodeError, UnicodeDecodeError):
        pass
    return response.text[:300].strip() or response.reason_phrase


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # some servers return content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def parse_completion(body: Any) -> tuple[str, str | None, int | None, int | None]:
    """(text, finish_reason, prompt_tokens, completion_tokens); ValueError when not a completion."""
    if not isinstance(body, dict) or not isinstance(body.get("choices"), list) or not body["choices"]:
        raise ValueError("response has no choices")
    choice = body["choices"][0]
    message = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(message, dict):
        raise ValueError("response choice has no message")
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    return (_content_text(message.get("content")), choice.get("finish_reason"),
            usage.get("prompt_tokens"), usage.get("completion_tokens"))


class TeacherClient:
    """Sends one teacher's requests through its rate limiter, with the retry policy above."""

    def __init__(self, spec: TeacherSpec, http: httpx.AsyncClient, limiter: RateLimiter, *,
                 api_key: str | None, rng: random.Random | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 should_stop: Callable[[], bool] = lambda: False):
        self.spec = spec
        self.http = http
        self.limiter = limiter
        self.redactor = Redactor([api_key])
        self.rng = rng or random.Random()
        self.sleep = sleep
        self.should_stop = should_stop
        self.url = f"{spec.base_url}/chat/completions"
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    async def complete(self, prompt: str, image_urls: Sequence[str]) -> ChatResult:
        """One answer, or RequestFailed after the retry policy gave up (see module docstring)."""
        payload = {"model": self.spec.model, "messages": build_messages(prompt, image_urls), **self.spec.params}
        estimate = estimate_tokens(prompt, len(image_urls), self.spec.max_tokens)
        if self.should_stop():
            raise RequestFailed("gave up after 0 attempt(s): stopped before the first attempt", attempts=0)
        retrying = AsyncRetrying(retry=retry_if_exception_type(_Retryable),
                                 stop=stop_after_attempt(self.spec.max_retries + 1) | self._stop_requested,
                                 wait=self._wait, sleep=self.sleep, reraise=True)
        tries = 0
        try:
            async for attempt in retrying:
                with attempt:
                    tries = attempt.retry_state.attempt_number
                    await self.limiter.acquire(estimate)
                    return await self._attempt(payload, estimate, tries)
        except _Retryable as last:
            raise RequestFailed(f"gave up after {tries} attempt(s): {last.message}", attempts=tries,
                                unreachable=last.unreachable) from None
        raise AssertionError("tenacity ended without a result or an exception")  # pragma: no cover

    def _wait(self, state: RetryCallState) -> float:
        """tenacity's wait: Retry-After of the failed attempt if it had one, else the jittered exponential."""
        failure = state.outcome.exception() if state.outcome else None
        retry_after = failure.retry_after if isinstance(failure, _Retryable) else None
        return backoff_delay(state.attempt_number, self.spec.backoff_s, retry_after, self.rng)

    def _stop_requested(self, state: RetryCallState) -> bool:
        return self.should_stop()

    async def _attempt(self, payload: dict[str, Any], estimate: int, attempt: int) -> ChatResult:
        start = time.monotonic()
        try:
            response = await self.http.post(self.url, json=payload, headers=self.headers, timeout=self.spec.timeout_s)
        except httpx.TimeoutException:
            self.limiter.settle(estimate, 0)
            raise _Retryable(f"timeout after {self.spec.timeout_s:g} s") from None
        except httpx.UnsupportedProtocol as e:
            message = self._scrub(f"bad base_url {self.spec.base_url}: {e}")
            raise RequestFailed(message, attempts=attempt, fatal=True) from None
        except httpx.TransportError as e:
            self.limiter.settle(estimate, 0)
            unreachable = isinstance(e, httpx.ConnectError)
            raise _Retryable(self._scrub(f"{type(e).__name__} on {self.url}: {e}"), unreachable=unreachable) from None
        latency = time.monotonic() - start
        return self._interpret(response, estimate, attempt, latency)

    def _interpret(self, response: httpx.Response, estimate: int, attempt: int,
                   latency: float) -> ChatResult:
        status = response.status_code
        if status == 200:
            try:
                body = response.json()
                text, finish, p_tok, c_tok = parse_completion(body)
            except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
                self.limiter.settle(estimate, 0)
                raise _Retryable(self._scrub(f"malformed response body ({e})")) from None
            p_tok = int(p_tok) if p_tok is not None else estimate - self.spec.max_tokens
            c_tok = int(c_tok) if c_tok is not None else len(text) // 4 + 1
            self.limiter.settle(estimate, p_tok + c_tok)
            return ChatResult(text=text, finish_reason=finish, prompt_tokens=p_tok, completion_tokens=c_tok,
                              latency_s=latency, attempts=attempt, model=self.spec.model,
                              extra=body.get(EXTENSION_FIELD) if isinstance(body.get(EXTENSION_FIELD), dict) else None)
        self.limiter.settle(estimate, 0)
        message = self._scrub(f"HTTP {status} from {self.url}: {error_message(response)}")
        if status == 429 or status >= 500:
            raise _Retryable(message, retry_after=parse_retry_after(response.headers.get("retry-after")))
        raise RequestFailed(message, attempts=attempt, status=status, fatal=status in FATAL_STATUSES)

    def _scrub(self, text: str) -> str:
        return self.redactor.scrub(text)
