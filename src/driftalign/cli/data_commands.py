"""Dataset commands: `validate` (check a dataset directory against the contract)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click
from pydantic import Field

from driftalign.cli.options import config_command
from driftalign.config import StageConfig
from driftalign.data.dataset import load_dataset


class ValidateConfig(StageConfig):
    data: Path = Field(description="dataset directory (studies.jsonl, trajectories.jsonl, images/)",
                       json_schema_extra={"positional": True})
    verify_images: bool = Field(True, description="open every image to check it is readable")


def run_validate(cfg: ValidateConfig) -> None:
    ds = load_dataset(cfg.data, verify_images=cfg.verify_images)
    splits = Counter(s.split for s in ds.studies)
    teachers = Counter(t.teacher for t in ds.trajectories)
    click.echo(f"{cfg.data}: {len(ds.studies)} studies ({dict(splits)}), {len(ds.trajectories)} trajectories")
    for name, n in sorted(teachers.items()):
        click.echo(f"  {name}: {n}")
    click.echo("ok")


def commands() -> list[click.Command]:
    return [config_command("validate", ValidateConfig, run_validate, "Check a dataset directory against the contract.")]
