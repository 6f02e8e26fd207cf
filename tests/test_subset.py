"""data.subset.seeded_subset: a study's membership depends on its own id and the seed only."""

from __future__ import annotations

import random

import pytest

from driftalign.data.subset import seeded_subset

IDS = [f"synth-{i:06d}" for i in range(200)]


def test_keeps_n_ids_in_the_given_order_and_all_when_n_is_none_or_large():
    sub = seeded_subset(IDS, 50, seed=0)
    assert len(sub) == 50 and sub == [i for i in IDS if i in set(sub)]
    assert seeded_subset(IDS, None, 0) == IDS and seeded_subset(IDS, 500, 0) == IDS and seeded_subset(IDS, 200, 0) == IDS
    with pytest.raises(ValueError):
        seeded_subset(IDS, -1, 0)


def test_the_subset_does_not_depend_on_the_order_and_grows_by_nesting():
    shuffled = random.Random(1).sample(IDS, len(IDS))
    assert set(seeded_subset(shuffled, 50, 3)) == set(seeded_subset(IDS, 50, 3))
    assert set(seeded_subset(IDS, 20, 3)) < set(seeded_subset(IDS, 50, 3))


def test_dropping_one_listed_study_changes_the_subset_by_at_most_two():
    full = set(seeded_subset(IDS, 50, 0))
    dropped = next(iter(full))
    less = set(seeded_subset([i for i in IDS if i != dropped], 50, 0))
    assert len(less) == 50 and len(full ^ less) == 2


def test_the_seed_decides_the_subset():
    a, b = set(seeded_subset(IDS, 50, 0)), set(seeded_subset(IDS, 50, 1))
    assert a != b and 0 < len(a & b) < 50       # different draws that overlap by chance (~12 expected)
