"""Evaluation commands: `label` (CheXpert-style labels for a JSONL of reports) and `eval`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from pydantic import Field
from rich.console import Console
from rich.progress import track
from rich.table import Table

from driftalign.cli.options import config_command
from driftalign.config import StageConfig
from driftalign.constants import MSCXRT_FINDINGS, OBSERVATIONS
from driftalign.data.io import read_jsonl, write_jsonl
from driftalign.drift.errors import ERROR_LABELS
from driftalign.errors import ConfigError, DatasetError
from driftalign.labeling import label_reports
from driftalign.labeling.compare import Comparison, compare_labels, match_rows, read_other_labels
from driftalign.metrics.run import EvalConfig, run_eval
from driftalign.metrics.nlg import NLG_KEYS

LABEL_CHUNK = 256


class LabelConfig(StageConfig):
    input: Path = Field(description="JSONL file of reports", json_schema_extra={"positional": True})
    field: str = Field("text", description="key of the report text in each row")
    out: Path | None = Field(None, description="output JSONL: the input rows with a `labels` key added")
    compare: Path | None = Field(None, description="another labeler's labels to compare with: CheXpert-labeler / "
                                 "CheXbert CSV (Reports + 14 columns, matched by row order or a study_id column) "
                                 "or JSONL rows {study_id, labels}")
    show: int = Field(20, ge=0, description="with --compare: how many disagreements to print")


def _read_reports(path: Path, field: str) -> list[tuple[int, dict[str, Any]]]:
    rows = list(read_jsonl(path))
    for lineno, obj in rows:
        if not isinstance(obj.get(field), str):
            raise DatasetError(f"{path}:{lineno}: missing string field {field!r} (choose it with --field)")
    return rows


def _labelled_rows(rows: list[tuple[int, dict[str, Any]]], field: str) -> Iterator[dict[str, Any]]:
    for i in track(range(0, len(rows), LABEL_CHUNK), description=f"labelling {len(rows)} reports", transient=True):
        chunk = rows[i:i + LABEL_CHUNK]
        for (_, obj), labels in zip(chunk, label_reports([obj[field] for _, obj in chunk])):
            yield {**obj, "labels": labels}


def _label_value(value: int | None) -> str:
    return "-" if value is None else str(value)


def print_comparison(result: Comparison, other: Path, show: int, console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title=f"driftalign labeler vs {other} ({result.n} reports)")
    for col in ("observation", "agreement", "kappa", "disagreements"):
        table.add_column(col, justify="left" if col == "observation" else "right")
    counts = {name: 0 for name in OBSERVATIONS}
    for d in result.disagreements:
        counts[d.observation] += 1
    for name in OBSERVATIONS:
        table.add_row(name, f"{result.agreement[name]:.3f}", _fmt(result.kappa[name]), str(counts[name]))
    mean = sum(result.agreement.values()) / len(OBSERVATIONS)
    table.add_row("mean", f"{mean:.3f}", "", str(len(result.disagreements)))
    console.print(table)
    for d in result.disagreements[:show]:
        who = d.study_id if d.study_id is not None else f"row {d.row + 1}"
        said = " | ".join(d.sentences) if d.sentences else "(no mention found by driftalign)"
        console.print(f"{who}  {d.observation}: ours {_label_value(d.ours)}, theirs {_label_value(d.theirs)}  <- {said}",
                      markup=False, highlight=False)
    if len(result.disagreements) > show:
        console.print(f"... {len(result.disagreements) - show} more disagreements (--show N prints more)")


def run_label(cfg: LabelConfig) -> Comparison | None:
    if cfg.out is None and cfg.compare is None:
        raise ConfigError("label: give --out (write labels) and/or --compare (compare with another labeler)")
    rows = _read_reports(cfg.input, cfg.field)
    other = read_other_labels(cfg.compare) if cfg.compare is not None else None   # fail before labelling
    labelled = list(_labelled_rows(rows, cfg.field))
    if cfg.out is not None:
        n = write_jsonl(cfg.out, iter(labelled))
        click.echo(f"labelled {n} reports -> {cfg.out}")
    if other is None:
        return None
    ids = [row.get("study_id") if isinstance(row.get("study_id"), str) else None for row in labelled]
    theirs = match_rows(ids, other, cfg.input)
    result = compare_labels([row[cfg.field] for row in labelled], [row["labels"] for row in labelled], theirs, ids)
    print_comparison(result, cfg.compare, cfg.show)
    return result


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _accuracy_table(result: dict[str, Any], title: str) -> Table:
    table = Table(title=f"Top-1 accuracy, MS-CXR-T findings ({title})")
    table.add_column("finding", no_wrap=True)
    for col in ("bal. acc", "n bal.", "unbal. acc", "majority", "n", "pos", "AUC"):
        table.add_column(col, justify="right")
    auc = result.get("auc") or {}
    for finding, short in MSCXRT_FINDINGS.items():
        d = result["accuracy_detail"][finding]
        table.add_row(f"{short} {finding}", _fmt(d["balanced"]), str(d["n_balanced"]), _fmt(d["unbalanced"]),
                      _fmt(d["majority_baseline"]), str(d["n"]), str(d["positives"]), _fmt(auc.get(finding)))
    table.add_row("average", _fmt(result["accuracy"]["average"]), "", "", "", "", "", _fmt(auc.get("average")))
    return table


def _summary_table(result: dict[str, Any], title: str) -> Table:
    table = Table(title=f"Report metrics ({title})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for kind in ("example_based", "macro"):
        for key in ("precision", "recall", "f1"):
            table.add_row(f"clinical {kind} {key}", _fmt(result["clinical"][kind][key]))
    for key in NLG_KEYS:
        table.add_row(key, _fmt((result["nlg"] or {}).get(key)))
    for kind, rate in result.get("drift_errors", {}).items():
        label = "inherited drift, total" if kind == "total" else f"inherited drift: {ERROR_LABELS[kind]}"
        table.add_row(f"{label} (per 100 reports)", f"{rate:.1f}")
    return table


def print_result(result: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    title = f"split {result['split']}, n={result['n']}" + (", SYNTHETIC data" if result["synthetic"] else "")
    console.print(_accuracy_table(result, title))
    console.print(_summary_table(result, title))


def _eval(cfg: EvalConfig) -> dict[str, Any]:
    result, messages = run_eval(cfg)
    for message in messages:
        click.echo(f"warning: {message}", err=True)
    print_result(result)
    if cfg.json is not None:
        click.echo(f"metrics -> {cfg.json}")
    return result


def commands() -> list[click.Command]:
    return [
        config_command("label", LabelConfig, run_label,
                       "Add CheXpert-style labels (14 observations) to each row of a JSONL of reports (--out), "
                       "and/or compare them with another labeler's (--compare)."),
        config_command("eval", EvalConfig, _eval,
                       "Evaluate predicted reports: MS-CXR-T accuracy, clinical P/R/F1, NLG metrics, AUC."),
    ]
