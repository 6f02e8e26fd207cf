"""DEER commands: `ddsample` (diagnostic-diversity subset for RL) and `grpo` (GRPO / DiTPO with the
clinical reward). See docs/deer.md."""

from __future__ import annotations

import os

import click

from driftalign.cli.options import config_command
from driftalign.rl.ddsample import DDSampleConfig
from driftalign.training.grpo import DiTPOConfig


def _ddsample(cfg: DDSampleConfig) -> None:
    from driftalign.rl.ddsample import run_ddsample

    click.echo(run_ddsample(cfg).line())


def _grpo(cfg: DiTPOConfig) -> None:
    from driftalign.training.grpo_trainer import run_grpo

    summary = run_grpo(cfg)
    if int(os.environ.get("RANK", "0")) == 0:  # under `accelerate launch`, one summary line, not one per rank
        click.echo(summary.line())


def commands() -> list[click.Command]:
    return [
        config_command("ddsample", DDSampleConfig, _ddsample,
                       "DDSampling (DEER eq. 3-5): K samples per study, diagnostic diversity D, log-rank draw "
                       "of the RL subset -> OUT/subset.jsonl."),
        config_command("grpo", DiTPOConfig, _grpo,
                       "GRPO with the clinical reward (DEER eq. 1-2), token-weighted by TF-IDF (DiTPO) unless "
                       "--token-weights none; --subset trains on a ddsample subset."),
    ]
