"""DEER commands: `ddsample` (diagnostic-diversity subset for RL). The DiTPO trainer is not built yet
(docs/deer.md)."""

from __future__ import annotations

import click

from driftalign.cli.options import config_command
from driftalign.rl.ddsample import DDSampleConfig


def _ddsample(cfg: DDSampleConfig) -> None:
    from driftalign.rl.ddsample import run_ddsample

    click.echo(run_ddsample(cfg).line())


def commands() -> list[click.Command]:
    return [
        config_command("ddsample", DDSampleConfig, _ddsample,
                       "DDSampling (DEER eq. 3-5): K samples per study, diagnostic diversity D, log-rank draw "
                       "of the RL subset -> OUT/subset.jsonl."),
    ]
