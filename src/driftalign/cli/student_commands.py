"""Student commands: `init-student` (build a tiny/small student), `spd` (supervised
pre-distillation) and `generate` (reports for a split, for `eval`)."""

from __future__ import annotations

import os
from pathlib import Path

import click
from pydantic import Field

from driftalign.cli.options import config_command
from driftalign.config import StageConfig
from driftalign.constants import Preset


class InitStudentConfig(StageConfig):
    """Options of `driftalign init-student`."""

    preset: Preset = Field(
        "tiny", description="student size: tiny (~1M params, 56 px, for tests), base (~2.3M, 56 px, vision "
                            "pretrained: the demo's and experiments' student), small (~5M, 112 px)")
    data: Path = Field(description="dataset whose text trains the tokenizer")
    out: Path = Field(description="output model directory")
    seed: int = Field(0, description="weight initialisation (and vision pretraining) seed")
    pretrain_vision: bool | None = Field(None, description="pretrain the vision tower on synthetic renders that "
                                         "belong to no dataset [the preset's default: on for base]")
    vision_pretrain_images: int = Field(6000, ge=32, description="rendered images for vision pretraining")
    vision_pretrain_steps: int = Field(2000, ge=1, description="vision pretraining steps (batch 32)")


def run_init_student(cfg: InitStudentConfig) -> None:
    import json

    from driftalign.models import build_student
    from driftalign.models.build import BUILD_INFO_FILE

    from driftalign.models.vision_pretraining import VisionPretrainConfig

    pretraining = VisionPretrainConfig(images=cfg.vision_pretrain_images, steps=cfg.vision_pretrain_steps, seed=cfg.seed)
    out = build_student(cfg.preset, cfg.data, cfg.out, seed=cfg.seed, pretrain_vision=cfg.pretrain_vision,
                        vision_pretraining=pretraining)
    info = json.loads((out / BUILD_INFO_FILE).read_text(encoding="utf-8"))
    vision = info["vision_pretraining"]
    how = "random init" if vision is None else (
        f"vision pretrained on {vision['images']:,} synthetic renders in {vision['seconds']:.0f} s, held-out "
        "balanced accuracy " + ", ".join(f"{k} {v:.2f}" for k, v in vision["held_out_balanced_accuracy"].items()))
    click.echo(f"{cfg.preset} student ({how}; {info['parameters']:,} parameters, "
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
