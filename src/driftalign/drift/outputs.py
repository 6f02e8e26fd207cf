"""Writing a `DriftReport`: drift.json, four CSV tables (atomically) and the terminal summary."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from driftalign.console import table_console
from driftalign.constants import MSCXRT_FINDINGS
from driftalign.data.io import atomic_write, write_json
from driftalign.drift.errors import ERROR_KINDS
from driftalign.drift.report import DriftReport, clean_numbers


OUTPUT_FILES = ("drift.json", "per_teacher.csv", "pairwise_kappa.csv", "fleiss_kappa.csv", "step_drift.csv")


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]], synthetic: bool) -> None:
    """CSV with a trailing `synthetic` column, so a table copied out of DIR still says where it came from."""
    with atomic_write(path) as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow([*header, "synthetic"])
        for row in rows:
            writer.writerow(["" if v is None else v for v in clean_numbers(list(row))] + [synthetic])


def _per_teacher_rows(report: DriftReport) -> tuple[list[str], list[list[Any]]]:
    acc_cols = [f"acc_{MSCXRT_FINDINGS.get(f, f)}" for f in report.accuracy_findings]
    header = ["teacher", "n_trajectories", "precision", "recall", "f1", "tp", "fp", "fn", "similarity",
              "n_similarity", "refusal_rate", "mean_words", "mean_steps", "laterality_comparable",
              "laterality_mismatch", "laterality_error_rate", *acc_cols,
              *(f"errors_per_100_{k}" for k in (*ERROR_KINDS, "total"))]
    rows = [
        [m.teacher, m.n_trajectories, m.precision, m.recall, m.f1, m.tp, m.fp, m.fn, m.similarity,
         m.n_similarity, m.refusal_rate, m.mean_words, m.mean_steps, m.laterality_comparable,
         m.laterality_mismatch, m.laterality_error_rate,
         *[m.finding_accuracy[f] for f in report.accuracy_findings],
         *[m.drift_errors.get(k) for k in (*ERROR_KINDS, "total")]]
        for m in report.per_teacher
    ]
    return header, rows


def write_outputs(report: DriftReport, out: Path) -> list[Path]:
    """Write drift.json + per_teacher.csv, pairwise_kappa.csv, fleiss_kappa.csv, step_drift.csv."""
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "drift.json", report.to_dict())
    syn = report.synthetic
    _write_csv(out / "per_teacher.csv", *_per_teacher_rows(report), syn)
    _write_csv(out / "pairwise_kappa.csv", ["teacher_a", "teacher_b", "kappa", "n_decisions"],
               ([k.teacher_a, k.teacher_b, k.kappa, k.n_decisions] for k in report.pairwise_kappa), syn)
    _write_csv(out / "fleiss_kappa.csv", ["finding", "kappa", "n_studies", "positive_rate", "mscxrt"],
               ([k.finding, k.kappa, k.n_studies, k.positive_rate, k.finding in MSCXRT_FINDINGS]
                for k in report.fleiss_kappa), syn)
    _write_csv(out / "step_drift.csv",
               ["axis", "position", "label", "n_steps", "n_studies", "embedding_distance", "assertion_js",
                "assertions_per_step", "event_density"],
               ([p.axis, p.position, p.label, p.n_steps, p.n_studies, p.embedding_distance, p.assertion_js,
                 p.assertions_per_step, p.event_density] for p in report.step_drift), syn)
    return [out / n for n in OUTPUT_FILES]


def _fmt(x: float, digits: int = 3) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def _tag(report: DriftReport) -> str:
    return f"{'synthetic world, ' if report.synthetic else ''}{report.n_studies} studies, split {report.split}"


def summary_table(report: DriftReport) -> Table:
    """Per-teacher rich table: drift vs the reference, refusals, length."""
    table = Table(title=f"Teacher drift vs reference ({_tag(report)})")
    table.add_column("teacher", no_wrap=True)
    # side err: laterality.py; err/100: drift errors per 100 trajectories (errors.py, as eval measures students)
    for col in ("P", "R", "F1", "sim", "side err", "err/100", "refusal", "words", "steps"):
        table.add_column(col, justify="right", no_wrap=True)
    for m in report.per_teacher:
        table.add_row(m.teacher, _fmt(m.precision), _fmt(m.recall), _fmt(m.f1), _fmt(m.similarity),
                      _fmt(m.laterality_error_rate), _fmt(m.drift_errors.get("total"), 1), _fmt(m.refusal_rate, 2),
                      _fmt(m.mean_words, 0), _fmt(m.mean_steps, 1))
    return table


def accuracy_table(report: DriftReport) -> Table:
    """Per-teacher accuracy on the MS-CXR-T findings, with the best-minus-worst gap as last row."""
    table = Table(title=f"Per-finding accuracy ({_tag(report)})")
    table.add_column("teacher", no_wrap=True)
    for f in report.accuracy_findings:
        table.add_column(MSCXRT_FINDINGS.get(f, f), justify="right", no_wrap=True)
    for m in report.per_teacher:
        table.add_row(m.teacher, *[_fmt(m.finding_accuracy[f], 2) for f in report.accuracy_findings])
    gaps = report.accuracy_gaps()
    table.add_row("gap (best - worst)", *[_fmt(gaps[f], 2) for f in report.accuracy_findings], style="bold")
    return table


def print_summary(report: DriftReport, console: Console | None = None) -> None:
    """Per-teacher table, accuracy gaps, mean kappas and the step-drift endpoints."""
    console = console or table_console(width=120)
    console.print(summary_table(report))
    console.print(accuracy_table(report))
    kappas = [k.kappa for k in report.pairwise_kappa if math.isfinite(k.kappa)]
    if kappas:
        console.print(f"pairwise Cohen's kappa: mean {_fmt(sum(kappas) / len(kappas))}, "
                      f"min {_fmt(min(kappas))}, max {_fmt(max(kappas))}")
    console.print(step_table(report))


def step_table(report: DriftReport) -> Table:
    """The step-drift curve on the relative-position axis."""
    table = Table(title=f"Step-wise drift by relative position ({_tag(report)})")
    for col in ("position", "steps", "emb. distance", "assertion JS", "events/step"):
        table.add_column(col, justify="right", no_wrap=True)
    for p in report.step_drift:
        if p.axis == "window":
            table.add_row(p.label, str(p.n_steps), _fmt(p.embedding_distance), _fmt(p.assertion_js),
                          _fmt(p.event_density))
    return table
