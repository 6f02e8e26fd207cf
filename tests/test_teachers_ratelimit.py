"""Token buckets on a fake clock: requests/min and tokens/min, with usage corrections."""

from __future__ import annotations

import asyncio

import pytest

from driftalign.teachers.ratelimit import RateLimiter, TokenBucket


class FakeClock:
    """A clock that only moves when someone sleeps; records every sleep."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_bucket_bursts_to_capacity_then_paces():
    clock = FakeClock()
    bucket = TokenBucket(capacity=3, rate_per_s=2.0, clock=clock, sleep=clock.sleep)

    async def take_five() -> list[float]:
        return [await bucket.take(1) for _ in range(5)]

    waits = asyncio.run(take_five())
    # 3 immediately from the full bucket, then one every 1/2 s.
    assert waits == pytest.approx([0, 0, 0, 0.5, 0.5])
    assert clock.now == pytest.approx(1.0)


def test_rpm_limits_request_rate():
    clock = FakeClock()
    limiter = RateLimiter(rpm=60, tpm=1e9, clock=clock.__call__, sleep=clock.sleep)

    async def run(n: int) -> None:
        for _ in range(n):
            await limiter.acquire(10)

    asyncio.run(run(90))
    # 60 from the one-minute burst, 30 more at 1/s.
    assert clock.now == pytest.approx(30.0)


def test_tpm_waits_for_tokens_and_settle_refunds():
    clock = FakeClock()
    limiter = RateLimiter(rpm=1e6, tpm=600, clock=clock.__call__, sleep=clock.sleep)  # 10 tokens/s

    async def run() -> None:
        await limiter.acquire(500)          # 100 left
        limiter.settle(500, 100)            # the server counted 100: refund 400 -> 500 left
        assert limiter.tokens.level == pytest.approx(500)
        await limiter.acquire(500)          # no wait
        assert clock.now == 0.0
        await limiter.acquire(200)          # 0 left, needs 200 -> 20 s at 10/s
        assert clock.now == pytest.approx(20.0)
        limiter.settle(200, 300)            # under-estimated by 100 -> level -100
        assert limiter.tokens.level == pytest.approx(-100)
        await limiter.acquire(50)           # must refill 150 -> 15 s
        assert clock.now == pytest.approx(35.0)

    asyncio.run(run())


def test_oversized_request_waits_for_a_full_bucket_not_forever():
    clock = FakeClock()
    bucket = TokenBucket(capacity=100, rate_per_s=10, clock=clock, sleep=clock.sleep)

    async def run() -> None:
        await bucket.take(100)
        await bucket.take(5000)  # clamped to capacity: 10 s to refill

    asyncio.run(run())
    assert clock.now == pytest.approx(10.0)


def test_concurrent_takers_share_the_rate():
    clock = FakeClock()
    bucket = TokenBucket(capacity=1, rate_per_s=1.0, clock=clock, sleep=clock.sleep)

    async def run() -> None:
        await asyncio.gather(*(bucket.take(1) for _ in range(4)))

    asyncio.run(run())
    assert clock.now == pytest.approx(3.0)


def test_bad_bucket_rejected():
    with pytest.raises(ValueError):
        TokenBucket(capacity=0, rate_per_s=1)
