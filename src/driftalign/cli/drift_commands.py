"""`driftalign drift DATASET --out DIR`: measure how the teachers drift (tables, plots, summary)."""

from __future__ import annotations

import click

from driftalign.cli.options import config_command
from driftalign.drift.run import DriftConfig, run_drift


def commands() -> list[click.Command]:
    return [config_command(
        "drift", DriftConfig, run_drift,
        "Measure teacher drift: per-teacher P/R/F1 and similarity vs the reference, agreement between "
        "teachers (Cohen's / Fleiss' kappa) and step-wise drift along the reasoning.",
    )]
