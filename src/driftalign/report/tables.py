"""What the page is made of, as data: tables of typed rows and cells, captions, notes, folded tables.

Every text here is plain text: the template (resources/report/report.html.j2) escapes it. A piece of
text that the page shows as code is a `Code` inside a `Rich` tuple; a cell's grey "± std" or
"[lo, hi]" tail, its run-name line and a verdict badge are fields of the `Cell`, drawn by the template.

Numbers are formatted here (`num`, `signed`, `pm_cell`, `ci_cell`); a missing or non-finite value is "–".
Tables follow booktabs: the template draws the rules; `Table.best()` says which cells are bold (the
best value of a column whose `Col.better` is set, among the ranked rows).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from driftalign.report.records import Interval, MeanStd

DASH = "–"


@dataclass(frozen=True)
class Code:
    """Text shown as <code>."""

    text: str


Rich = tuple[str | Code, ...]     # text with code spans, in order


def code(text: str) -> Code:
    return Code(str(text))


# ---- numbers -----------------------------------------------------------------------------------------


def finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def num(v: Any, digits: int = 3) -> str:
    return f"{v:.{digits}f}" if finite(v) else DASH


def signed(v: Any, digits: int = 3) -> str:
    return f"{v:+.{digits}f}".replace("-", "−") if finite(v) else DASH


def mean_of(values: Sequence[Any]) -> float | None:
    vals = [v for v in values if finite(v)]
    return sum(vals) / len(vals) if vals else None


# ---- cells, rows, tables -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One table cell: `text`, then a grey `std` tail, a `sub` line (a run name), a `verdict` badge."""

    text: str = ""
    std: str = ""
    sub: str = ""
    verdict: str = ""                 # "yes" | "no"
    value: Any = None                 # what best-marking compares (a number, or None: not ranked)


def value_cell(v: Any, digits: int = 3) -> Cell:
    return Cell(num(v, digits), value=v)


def pm_cell(pair: MeanStd | None, digits: int = 3, seeds: Any = None) -> Cell:
    """(mean, std) -> 'mean ± std' (std small and grey); only the mean for a single seed."""
    if pair is None:
        return Cell(DASH)
    mean, std = pair
    if seeds == 1:
        return Cell(num(mean, digits), value=mean)
    return Cell(num(mean, digits), std=f" ± {num(std, digits)}", value=mean)


def ci_cell(iv: Interval | None, digits: int = 3) -> Cell:
    """A difference and its CI: '+0.010 [−0.020, +0.040]' (the interval small and grey)."""
    if iv is None:
        return Cell(DASH)
    return Cell(f"{signed(iv.diff, digits)} ", std=f"[{signed(iv.lo, digits)}, {signed(iv.hi, digits)}]")


@dataclass(frozen=True)
class Col:
    head: str
    group: str = ""
    num: bool = True
    better: str | None = None         # "high" | "low": the best value of the column is bold
    title: str = ""

    @property
    def cls(self) -> str:
        return "num" if self.num else "txt"


@dataclass(frozen=True)
class Row:
    cells: tuple[Cell, ...]
    cls: str = ""                     # ceiling | summary | highlight | grouprow (one cell across the table)
    ranked: bool = True               # takes part in best-marking


def group_row(text: str) -> Row:
    return Row((Cell(text),), cls="grouprow")


@dataclass(frozen=True)
class Caption:
    title: str
    text: Rich = ()


def caption(title: str, *text: str | Code) -> Caption:
    return Caption(title, tuple(text))


@dataclass(frozen=True)
class Head:
    """A header cell: a column (`col`) or a group of columns (`colspan`)."""

    text: str
    col: Col | None = None
    rowspan: int = 1
    colspan: int = 1


@dataclass(frozen=True)
class Table:
    cols: tuple[Col, ...]
    rows: tuple[Row, ...]
    caption: Caption
    cls: str = ""
    kind: ClassVar[str] = "table"

    def head(self) -> list[list[Head]]:
        """Header rows: one, or two when columns are grouped (a group over its columns, ungrouped ones span both)."""
        if not any(c.group for c in self.cols):
            return [[Head(c.head, c) for c in self.cols]]
        top: list[Head] = []
        j = 0
        while j < len(self.cols):
            c = self.cols[j]
            if not c.group:
                top.append(Head(c.head, c, rowspan=2))
                j += 1
                continue
            k = j
            while k < len(self.cols) and self.cols[k].group == c.group:
                k += 1
            top.append(Head(c.group, colspan=k - j))
            j = k
        return [top, [Head(c.head, c) for c in self.cols if c.group]]

    def best(self) -> frozenset[tuple[int, int]]:
        """(row, column) of the bold cells: per column with `better`, the best value of >= 2 ranked rows."""
        marks: set[tuple[int, int]] = set()
        for j, col in enumerate(self.cols):
            if col.better is None:
                continue
            vals = [(r.cells[j].value, i) for i, r in enumerate(self.rows)
                    if r.ranked and j < len(r.cells) and finite(r.cells[j].value)]
            if len(vals) < 2:
                continue
            target = max(v for v, _ in vals) if col.better == "high" else min(v for v, _ in vals)
            marks |= {(i, j) for v, i in vals if abs(v - target) < 1e-12}
        return frozenset(marks)


def table(cols: Sequence[Col], rows: Sequence[Row], cap: Caption, *, cls: str = "") -> Table:
    return Table(tuple(cols), tuple(rows), cap, cls)


# ---- other blocks of a section -----------------------------------------------------------------------


@dataclass(frozen=True)
class Note:
    """A short grey note: what is missing and how to get it."""

    text: Rich
    kind: ClassVar[str] = "note"


def note(*text: str | Code) -> Note:
    return Note(tuple(text))


@dataclass(frozen=True)
class Folded:
    """A table folded under its title (configs): open it to read."""

    title: str
    table: Table
    kind: ClassVar[str] = "folded"


@dataclass(frozen=True)
class Bullets:
    """A heading and a list (the run's notes, what the run lacks)."""

    heading: str
    items: tuple[Rich, ...]
    kind: ClassVar[str] = "bullets"
