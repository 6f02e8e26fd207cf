"""A seeded subset of studies that does not depend on which other studies are listed with them.

`seeded_subset(ids, n, seed)` keeps the n ids with the smallest sha256("{seed}:{id}"), in their given
order. A study is in or out by its own hash rank, so:

* two stages that list the same eligible studies draw the same subset, whatever else they read:
  `consensus --max-studies N --seed S` writes t+ only for the studies `apo --max-studies N --seed S`
  then trains on (APO's rows are the consensus rows, less any whose t+ is empty);
* a larger n keeps every study of a smaller one, and adding or dropping one study changes the
  subset by at most that study and one other.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def _rank(seed: int, study_id: str) -> str:
    return hashlib.sha256(f"{seed}:{study_id}".encode()).hexdigest()


def seeded_subset(ids: Sequence[str], n: int | None, seed: int) -> list[str]:
    """The n ids of lowest seeded hash rank, in the order given; all of them when n is None or >= len(ids)."""
    if n is None or n >= len(ids):
        return list(ids)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    keep = set(sorted(ids, key=lambda i: _rank(seed, i))[:n])
    return [i for i in ids if i in keep]
