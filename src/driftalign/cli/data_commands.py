"""Dataset commands: `validate` (check a dataset directory against the contract) and
`import-swift` (convert ms-swift JSON/JSONL rows into a dataset directory)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click
from pydantic import Field

from driftalign.cli.options import config_command
from driftalign.config import StageConfig
from driftalign.data.dataset import load_dataset
from driftalign.data.swift_import import import_swift


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


class ImportSwiftConfig(StageConfig):
    source: Path = Field(description="ms-swift rows (.jsonl, or .json list)", json_schema_extra={"positional": True})
    out: Path = Field(description="dataset directory to write")
    image_root: Path | None = Field(None, description="directory relative image paths are resolved against "
                                                      "(default: the source file's directory)")
    teacher: str = Field("swift-chosen", description="teacher name for the rows' assistant answers "
                                                     "(a row's own 'teacher' key wins)")
    rejected_teacher: str = Field("swift-rejected", description="teacher name for 'rejected_response' answers")
    split: str = Field("train", description="split for the imported studies (a row's own 'split' key wins)")


def run_import_swift(cfg: ImportSwiftConfig) -> None:
    n_studies, n_traj = import_swift(cfg.source, cfg.out, image_root=cfg.image_root, teacher=cfg.teacher,
                                     rejected_teacher=cfg.rejected_teacher, split=cfg.split)
    click.echo(f"imported {n_studies} studies and {n_traj} trajectories into {cfg.out}")


def commands() -> list[click.Command]:
    return [
        config_command("validate", ValidateConfig, run_validate, "Check a dataset directory against the contract."),
        config_command("import-swift", ImportSwiftConfig, run_import_swift,
                       "Import ms-swift JSON/JSONL rows (messages, images, rejected_response) as a dataset."),
    ]
