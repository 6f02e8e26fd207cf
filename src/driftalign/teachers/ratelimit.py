"""Per-teacher rate limiting: a requests/min and a tokens/min token bucket.

A request first takes 1 from the request bucket and an *estimate* of its tokens (prompt estimate +
max_tokens) from the token bucket; when the answer comes back with `usage`, the difference between
estimate and actual is refunded (or charged), so the token bucket tracks what the provider counts.
Buckets hold one minute's allowance at most (the provider's own window) and refill continuously.
A bucket may go negative after a correction; the next caller then waits until it is positive again.

The clock and the sleep are injectable so the limiter is unit-tested without real waiting.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@dataclass
class TokenBucket:
    """capacity units at most, refilled at rate_per_s; `take` waits until `amount` is available."""

    capacity: float
    rate_per_s: float
    clock: Clock = time.monotonic
    sleep: Sleep = asyncio.sleep
    level: float = field(init=False)
    _stamp: float = field(init=False)
    _lock: asyncio.Lock = field(init=False, default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        if self.capacity <= 0 or self.rate_per_s <= 0:
            raise ValueError("capacity and rate must be positive")
        self.level = self.capacity
        self._stamp = self.clock()

    def _refill(self) -> None:
        now = self.clock()
        self.level = min(self.capacity, self.level + (now - self._stamp) * self.rate_per_s)
        self._stamp = now

    def wait_time(self, amount: float) -> float:
        """Seconds until `amount` could be taken (0 when available now)."""
        self._refill()
        amount = min(amount, self.capacity)  # a request bigger than the bucket waits for a full bucket
        return max(0.0, (amount - self.level) / self.rate_per_s)

    async def take(self, amount: float = 1.0) -> float:
        """Wait until `amount` is available, then take it. Returns the seconds waited. FIFO via a lock."""
        waited = 0.0
        async with self._lock:
            while (delay := self.wait_time(amount)) > 0:
                await self.sleep(delay)
                waited += delay
            self.level -= min(amount, self.capacity)
        return waited

    def adjust(self, delta: float) -> None:
        """Refund (delta > 0) or charge (delta < 0) units after the fact, e.g. estimate - actual usage."""
        self._refill()
        self.level = min(self.capacity, self.level + delta)


class RateLimiter:
    """rpm + tpm buckets of one teacher."""

    def __init__(self, rpm: float, tpm: float, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep):
        self.requests = TokenBucket(capacity=rpm, rate_per_s=rpm / 60.0, clock=clock, sleep=sleep)
        self.tokens = TokenBucket(capacity=tpm, rate_per_s=tpm / 60.0, clock=clock, sleep=sleep)

    async def acquire(self, estimated_tokens: float) -> float:
        """Wait for one request slot and the estimated tokens; returns the seconds waited."""
        waited = await self.requests.take(1.0)
        waited += await self.tokens.take(estimated_tokens)
        return waited

    def settle(self, estimated_tokens: float, actual_tokens: float) -> None:
        """Correct the token bucket with the usage the server reported."""
        self.tokens.adjust(min(estimated_tokens, self.tokens.capacity) - actual_tokens)
