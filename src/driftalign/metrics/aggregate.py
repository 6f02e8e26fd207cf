"""Aggregates of a metric over seeds: the one `mean_std` the multi-seed tables (`pipeline.experiment`,
`pipeline.deer_tables`) and the report (`report.collect`) share."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def mean_std(values: Iterable[float | None]) -> list[float | None]:
    """[mean, std (ddof 1)] of the values that are not None (std 0 for one value; [None, None] for none)."""
    v = [x for x in values if x is not None]
    if not v:
        return [None, None]
    return [float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else 0.0]
