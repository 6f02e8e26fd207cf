"""`driftalign synth`: build a synthetic chest X-ray world (images, labels, reports, teachers)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
from pydantic import Field, field_validator
from rich.console import Console
from rich.table import Table

from driftalign.cli.options import config_command
from driftalign.config import StageConfig, save_config
from driftalign.synth.render import MAX_SIZE, MIN_SIZE
from driftalign.synth.world import MANIFEST_FILE, build_world


class SynthConfig(StageConfig):
    studies: int = Field(2000, gt=0, description="internal studies (train/val/test 70/10/20); +10% external split")
    out: Path = Field(description="output dataset directory (must not exist or be empty, unless --overwrite)")
    seed: int = Field(0, description="random seed: same seed -> identical world")
    image_size: int = Field(64, description=f"image side in pixels ({MIN_SIZE}-{MAX_SIZE})")
    teachers: str = Field("all", description="simulated teachers: 'all', 'none' or a comma-separated list")
    overwrite: bool = Field(False, description="replace a non-empty --out directory")
    workers: int = Field(2, gt=0, description="processes used for rendering")

    @field_validator("image_size")
    @classmethod
    def _size(cls, v: int) -> int:
        if not MIN_SIZE <= v <= MAX_SIZE:
            raise ValueError(f"must be in [{MIN_SIZE}, {MAX_SIZE}], got {v}")
        return v


def _summary_tables(manifest: dict) -> list[Table]:
    splits = Table(title="studies per split (synthetic)")
    splits.add_column("split")
    splits.add_column("studies", justify="right")
    for split, n in manifest["studies_per_split"].items():
        splits.add_row(split, str(n))

    prev = Table(title="prevalence of the MS-CXR-T findings (label = 1, synthetic)")
    prev.add_column("finding")
    order = [s for s in ("train", "val", "test", "external") if s in manifest["positive_prevalence"]]
    for split in order:
        prev.add_column(split, justify="right")
    for name in manifest["mscxrt_findings"]:
        prev.add_row(name, *(f"{manifest['positive_prevalence'][s][name]:.1%}" for s in order))

    teachers = Table(title="trajectories per teacher (synthetic)")
    teachers.add_column("teacher")
    teachers.add_column("trajectories", justify="right")
    for name, n in manifest["trajectories_per_teacher"].items():
        teachers.add_row(name, str(n))
    return [splits, prev, teachers]


def run_synth(cfg: SynthConfig) -> Path:
    start = time.perf_counter()
    out = build_world(cfg.out, studies=cfg.studies, seed=cfg.seed, image_size=cfg.image_size,
                      teachers=cfg.teachers, overwrite=cfg.overwrite, workers=cfg.workers)
    save_config(cfg, out)
    manifest = json.loads((out / MANIFEST_FILE).read_text(encoding="utf-8"))
    console = Console()
    for table in _summary_tables(manifest):
        if table.row_count:
            console.print(table)
    timings = ", ".join(f"{k.removesuffix('_s')} {v:.1f}s" for k, v in manifest["timings"].items())
    console.print(f"timings: {timings}; total {time.perf_counter() - start:.1f}s")
    console.print(f"wrote synthetic world to {out}")
    return out


def commands() -> list[click.Command]:
    return [config_command("synth", SynthConfig, run_synth,
                           "Build a synthetic chest X-ray world: images, labels, reference reports, teacher trajectories.")]
