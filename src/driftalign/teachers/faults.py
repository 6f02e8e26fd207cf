"""Deterministic fault injection for the simulated-teacher server.

Each fault kind is a fraction of requests. The decision for a request is a pure function of
(seed, request key, how many times this key was seen before): the n-th time the server sees the
same (teacher, study, prompt) it makes the same choice in every run with the same seed, whatever
the arrival order of concurrent requests. Retries of a faulted request draw afresh, so every
request eventually succeeds unless the fractions sum to 1.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from dataclasses import dataclass

OK = "ok"
FAULT_429 = "429"
FAULT_500 = "500"
FAULT_SLOW = "slow"
FAULT_MALFORMED = "malformed"
FAULT_DROP = "drop"
FAULT_KINDS: tuple[str, ...] = (FAULT_429, FAULT_500, FAULT_SLOW, FAULT_MALFORMED, FAULT_DROP)


@dataclass(frozen=True)
class FaultConfig:
    """Fractions of requests per fault kind (their sum must be <= 1) and the fault parameters."""

    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_slow: float = 0.0
    rate_malformed: float = 0.0
    rate_drop: float = 0.0
    slow_s: float = 30.0        # how long a "slow" request sleeps (past a typical client timeout)
    retry_after_s: float = 1.0  # the Retry-After header of a 429
    seed: int = 0

    def __post_init__(self) -> None:
        rates = self.rates()
        bad = {k: v for k, v in rates.items() if not 0.0 <= v <= 1.0}
        if bad:
            raise ValueError(f"fault fractions must be in [0, 1], got {bad}")
        if sum(rates.values()) > 1.0 + 1e-9:
            raise ValueError(f"fault fractions sum to {sum(rates.values()):.3f} > 1")

    def rates(self) -> dict[str, float]:
        return {FAULT_429: self.rate_429, FAULT_500: self.rate_500, FAULT_SLOW: self.rate_slow,
                FAULT_MALFORMED: self.rate_malformed, FAULT_DROP: self.rate_drop}


def unit_draw(seed: int, key: str, occurrence: int) -> float:
    """A uniform number in [0, 1) from a hash (stable across processes, unlike hash())."""
    digest = hashlib.sha256(f"{seed}:{key}:{occurrence}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class FaultPlan:
    """Thread-safe: `decide(key)` -> "ok" or one of FAULT_KINDS."""

    def __init__(self, config: FaultConfig):
        self.config = config
        self._seen: Counter[str] = Counter()
        self._lock = threading.Lock()

    def decide(self, key: str) -> str:
        with self._lock:
            occurrence = self._seen[key]
            self._seen[key] += 1
        u = unit_draw(self.config.seed, key, occurrence)
        edge = 0.0
        for kind, rate in self.config.rates().items():
            edge += rate
            if u < edge:
                return kind
        return OK
