"""Simulated-teacher commands: `synth-calibration` (unhinted accuracy vs the APO paper's Table 2)."""

from __future__ import annotations

from pathlib import Path

import click
from pydantic import Field, field_validator
from rich.console import Console
from rich.table import Table

from driftalign.cli.options import config_command
from driftalign.config import StageConfig, save_config
from driftalign.constants import MSCXRT_FINDINGS
from driftalign.data.io import write_json
from driftalign.synth.calibration import (
    Cell,
    PremiseResult,
    calibrate,
    max_abs_deviation,
    premise_check,
    target,
    world_truths,
)


class SynthCalibrationConfig(StageConfig):
    studies: int = Field(2000, description="truths per finding: half positives, half negatives")
    seed: int = Field(0, description="seed of the truth sampler and of the teachers")
    stratified: bool = Field(True, description="number each balanced set's studies consecutively "
                                               "(low-discrepancy decisions); off = the sampler's own ids")
    premise_world: int = Field(1500, description="also check the premise (majority vs each teacher, hinted) on the "
                                                 "test split of a world of this many studies; 0 = skip")
    out: Path | None = Field(None, description="directory for calibration.json and the resolved config")

    @field_validator("studies")
    @classmethod
    def _even(cls, v: int) -> int:
        if v < 2 or v % 2:
            raise ValueError(f"must be an even number >= 2, got {v}")
        return v

    @field_validator("premise_world")
    @classmethod
    def _non_negative(cls, v: int) -> int:
        if v < 0:
            raise ValueError(f"must be >= 0, got {v}")
        return v


def calibration_table(cells: dict[str, dict[str, Cell]], studies: int) -> Table:
    table = Table(title=f"Synthetic unhinted accuracy, measured / APO Table 2 ({studies} truths per finding)")
    table.add_column("teacher")
    for short in MSCXRT_FINDINGS.values():
        table.add_column(short, justify="right")
    for teacher, row in cells.items():
        table.add_row(teacher, *(f"{row[f].accuracy:.3f} / {target(teacher, f):.2f}" for f in MSCXRT_FINDINGS))
    return table


def premise_table(result: PremiseResult) -> Table:
    table = Table(title=f"Synthetic premise, hinted ({result.studies} test studies)")
    table.add_column("trajectory")
    table.add_column("spurious or wrong claims / study", justify="right")
    for teacher, errors in result.teacher_errors.items():
        table.add_row(teacher, f"{errors:.3f}")
    table.add_row("majority of teachers", f"{result.majority_errors:.3f}", style="bold")
    return table


def calibration_record(cells: dict[str, dict[str, Cell]], cfg: SynthCalibrationConfig,
                       premise: PremiseResult | None) -> dict:
    return {
        "premise": None if premise is None else {"studies": premise.studies, "teacher_errors": premise.teacher_errors,
                                                 "majority_errors": premise.majority_errors},
        "synthetic": True,
        "studies_per_finding": cfg.studies,
        "seed": cfg.seed,
        "stratified": cfg.stratified,
        "max_abs_deviation": round(max_abs_deviation(cells), 4),
        "teachers": {
            t: {f: {"accuracy": c.accuracy, "target": target(t, f), "sensitivity": c.sensitivity,
                    "specificity": c.specificity, "unparsed": c.unparsed} for f, c in row.items()}
            for t, row in cells.items()
        },
    }


def run_synth_calibration(cfg: SynthCalibrationConfig) -> None:
    cells = calibrate(cfg.studies, cfg.seed, stratified=cfg.stratified)
    console = Console(width=120)
    console.print(calibration_table(cells, cfg.studies))
    premise = premise_check(world_truths(cfg.premise_world, cfg.seed), cfg.seed) if cfg.premise_world else None
    if premise is not None:
        console.print(premise_table(premise))
    unparsed = sum(c.unparsed for row in cells.values() for c in row.values())
    if unparsed:
        click.echo(f"warning: {unparsed} answers could not be parsed (counted as wrong)")
    if cfg.out is not None:
        write_json(cfg.out / "calibration.json", calibration_record(cells, cfg, premise))
        save_config(cfg, cfg.out)
    click.echo(f"max abs deviation: {max_abs_deviation(cells):.3f}")


def commands() -> list[click.Command]:
    return [config_command(
        "synth-calibration", SynthCalibrationConfig, run_synth_calibration,
        "Measure the simulated teachers' unhinted accuracy (parsed from their answers) against the APO paper's "
        "Table 2 on balanced synthetic sets.",
    )]
