"""`driftalign report RUN_DIR`: one self-contained HTML file describing a finished run (`driftalign.report`)."""

from __future__ import annotations

from pathlib import Path

import click
from pydantic import Field

from driftalign.cli.options import config_command
from driftalign.config import StageConfig


class ReportConfig(StageConfig):
    """Options of `driftalign report` (flags == YAML keys). Nothing is saved into RUN_DIR but the report."""

    run_dir: Path = Field(description="a finished run: driftalign demo --out, scripts/apo_experiment.py --out, or a "
                          "folder of stage outputs (eval JSONs, drift/, ddsample/grpo outputs, bench_*.json)",
                          json_schema_extra={"positional": True})
    out: Path | None = Field(None, description="HTML file to write [RUN_DIR/report.html]")
    examples: int = Field(4, ge=0, le=20, description="test studies shown side by side with their drift errors "
                          "marked (the APO paper's Fig. 1b); 0: none")


def run_report(cfg: ReportConfig) -> Path:
    from driftalign.report import build_report

    path = build_report(cfg.run_dir, cfg.out, examples=cfg.examples)
    click.echo(f"report -> {path}")
    return path


def commands() -> list[click.Command]:
    return [config_command(
        "report", ReportConfig, run_report,
        "Write one self-contained HTML report of a finished run: students (Table 5 layout), teachers (Table 2), "
        "inherited drift, DEER and benchmark tables when present, the drift plots, and test studies side by "
        "side with their drift errors marked.")]
