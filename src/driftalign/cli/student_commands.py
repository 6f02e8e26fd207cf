"""Student commands: `init-student` (build a tiny/small student), `spd` (supervised
pre-distillation) and `generate` (reports for a split, for `eval`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import click
from pydantic import Field

from driftalign.cli.options import config_command
from driftalign.config import StageConfig


class InitStudentConfig(StageConfig):
    """Options of `driftalign init-student`."""

    preset: Literal["tiny", "small"] = Field("tiny", description="student size (tiny ~1M params 56 px, small ~5M 112 px)")
    data: Path = Field(description="dataset whose text trains the tokenizer")
    out: Path = Field(description="output model directory")
    seed: int = Field(0, description="weight initialisation seed")


def run_init_student(cfg: InitStudentConfig) -> None:
    import json

    from driftalign.models import build_student
    from driftalign.models.build import BUILD_INFO_FILE

    out = build_student(cfg.preset, cfg.data, cfg.out, seed=cfg.seed)
    info = json.loads((out / BUILD_INFO_FILE).read_text(encoding="utf-8"))
    click.echo(f"{cfg.preset} student (random init, {info['parameters']:,} parameters, "
               f"vocabulary {info['vocab_size']}) -> {out}")


def run_spd_command(cfg) -> None:
    from driftalign.training.spd_trainer import run_spd

    summary = run_spd(cfg)
    if int(os.environ.get("RANK", "0")) == 0:  # under `accelerate launch`, one summary line, not one per rank
        click.echo(summary.line())


def run_generate_command(cfg) -> None:
    from driftalign.generation.generate import run_generate

    n = run_generate(cfg)
    click.echo(f"{n} predictions -> {cfg.out}")


def commands() -> list[click.Command]:
    from driftalign.generation.generate import GenerateConfig
    from driftalign.training.spd import SPDConfig

    return [
        config_command("init-student", InitStudentConfig, run_init_student,
                       "Build a randomly initialised tiny/small Qwen2.5-VL student with a locally trained tokenizer."),
        config_command("spd", SPDConfig, run_spd_command,
                       "Supervised pre-distillation: SFT of the student on all teachers' trajectories (eq. 6)."),
        config_command("generate", GenerateConfig, run_generate_command,
                       "Generate the student's report for every study of a split (JSONL for eval)."),
    ]
