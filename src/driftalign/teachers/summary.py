"""What a collection produced, per teacher: done / failed / refused, tokens, cost, latency.

Computed from the store rows of the current plan (so a resumed run reports the whole collection,
and `new` says how many answers this run added).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from driftalign.teachers.store import FAILED, OK, StoredAnswer


@dataclass
class TeacherStats:
    teacher: str
    planned: int
    done: int = 0
    failed: int = 0
    refused: int = 0
    new: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    latency_p50_s: float | None = None
    latency_p90_s: float | None = None
    latency_p99_s: float | None = None
    aborted: str | None = None  # why the teacher was stopped (401, unreachable ...), if it was


@dataclass
class CollectSummary:
    teachers: list[TeacherStats]
    store: Path
    trajectories: Path | None = None
    exported: int = 0
    errors: list[str] = field(default_factory=list)  # the first failure message of each failing teacher

    @property
    def done(self) -> int:
        return sum(t.done for t in self.teachers)

    @property
    def failed(self) -> int:
        return sum(t.failed for t in self.teachers)

    @property
    def aborted(self) -> dict[str, str]:
        return {t.teacher: t.aborted for t in self.teachers if t.aborted}

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["store"], d["trajectories"] = str(self.store), str(self.trajectories) if self.trajectories else None
        return d


def percentiles(values: list[float]) -> tuple[float | None, float | None, float | None]:
    """(p50, p90, p99) with linear interpolation; Nones for no values."""
    if not values:
        return None, None, None
    p50, p90, p99 = np.percentile(np.asarray(values, dtype=float), [50, 90, 99])
    return float(p50), float(p90), float(p99)


def teacher_stats(teacher: str, planned: int, rows: list[StoredAnswer], new: int) -> TeacherStats:
    """Aggregate one teacher's store rows (of the current plan)."""
    stats = TeacherStats(teacher=teacher, planned=planned, new=new)
    latencies = []
    for row in rows:
        if row.status == FAILED:
            stats.failed += 1
            continue
        assert row.status == OK
        stats.done += 1
        stats.refused += bool(row.meta.get("refusal"))
        stats.tokens_in += int(row.meta.get("prompt_tokens", 0))
        stats.tokens_out += int(row.meta.get("completion_tokens", 0))
        stats.cost_usd += float(row.meta.get("cost_usd", 0.0))
        latencies.append(float(row.meta.get("latency_s", 0.0)))
    stats.latency_p50_s, stats.latency_p90_s, stats.latency_p99_s = percentiles(latencies)
    return stats


def _fmt_s(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def summary_table(summary: CollectSummary) -> Table:
    table = Table(title="teacher collection")
    for col in ("teacher", "done", "new", "failed", "refused", "tokens in", "tokens out", "cost $",
                "p50 s", "p90 s", "p99 s"):
        table.add_column(col, justify="left" if col == "teacher" else "right")
    for t in summary.teachers:
        name = t.teacher + (" (aborted)" if t.aborted else "")
        table.add_row(name, f"{t.done}/{t.planned}", str(t.new), str(t.failed), str(t.refused),
                      f"{t.tokens_in:,}", f"{t.tokens_out:,}", f"{t.cost_usd:.4f}",
                      _fmt_s(t.latency_p50_s), _fmt_s(t.latency_p90_s), _fmt_s(t.latency_p99_s))
    return table
