"""`driftalign probe DATASET`: what the pixels carry — a small CNN's balanced accuracy per MS-CXR-T finding."""

from __future__ import annotations

import click

from driftalign.cli.options import config_command
from driftalign.probe.pixel import ProbeConfig


def run_probe_command(cfg: ProbeConfig) -> None:
    from rich.console import Console
    from rich.table import Table

    from driftalign.constants import MSCXRT_FINDINGS
    from driftalign.probe.pixel import run_probe

    result = run_probe(cfg)
    table = Table(title=f"pixel probe: small CNN on {cfg.image_size} px images, split {cfg.split} "
                        f"(balanced top-1 accuracy; chance 0.500)")
    table.add_column("")
    for short in [*MSCXRT_FINDINGS.values(), "Avg."]:
        table.add_column(short, justify="right")
    acc = [result.accuracy.get(f) for f in MSCXRT_FINDINGS] + [result.accuracy.get("average")]
    auc = [result.auc.get(f) for f in MSCXRT_FINDINGS] + [None]
    table.add_row("balanced acc.", *("-" if v is None else f"{v:.3f}" for v in acc))
    table.add_row("AUC", *("-" if v is None else f"{v:.3f}" for v in auc))
    Console().print(table)
    click.echo(f"{result.n_train} train / {result.n_eval} scored images, {result.parameters:,} parameters, "
               f"{result.seconds:.0f} s" + (f" -> {cfg.out}" if cfg.out else ""))


def commands() -> list[click.Command]:
    return [config_command(
        "probe", ProbeConfig, run_probe_command,
        "Pixel probe: train a small CNN directly on the images to the five MS-CXR-T labels and report its "
        "balanced accuracy — how much of each finding the pixels carry at the student's resolution.",
    )]
