"""Stage configs: flags == YAML keys by construction; precedence default < YAML < flag; clear errors."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Literal

import click
import pytest
from click.testing import CliRunner
from pydantic import Field

from driftalign.cli.app import cli, main
from driftalign.cli.options import config_command
from driftalign.config import StageConfig, save_config
from driftalign.errors import ConfigError


class DemoConfig(StageConfig):
    data: Path = Field(description="dataset", json_schema_extra={"positional": True})
    lr: float = Field(1e-4, description="learning rate")
    steps: int = Field(10, description="steps")
    lora: bool = Field(True, description="use LoRA")
    weights: Literal["uniform", "drift"] = Field("uniform", description="teacher weights")


def _command(seen: list) -> click.Command:
    return config_command("demo-stage", DemoConfig, seen.append, "A test stage.")


def test_flags_are_the_config_fields():
    names = {p.name for p in _command([]).params}
    assert names == {"data", "lr", "steps", "lora", "weights", "config_file"}


def test_precedence_default_yaml_flag(tmp_path):
    seen: list[DemoConfig] = []
    yml = tmp_path / "c.yaml"
    yml.write_text("lr: 0.5\nsteps: 3\nweights: drift\n")
    result = CliRunner().invoke(_command(seen), ["d", "--config", str(yml), "--steps", "7", "--no-lora"])
    assert result.exit_code == 0, result.output
    cfg = seen[0]
    assert (cfg.lr, cfg.steps, cfg.lora, cfg.weights, cfg.data) == (0.5, 7, False, "drift", Path("d"))


def test_yaml_typo_and_bad_choice_are_errors(tmp_path):
    yml = tmp_path / "c.yaml"
    yml.write_text("lrr: 0.5\n")
    with pytest.raises(ConfigError, match="--lrr: Extra inputs are not permitted"):
        DemoConfig.load(yml, data="d")
    yml.write_text("- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        DemoConfig.load(yml, data="d")
    result = CliRunner().invoke(_command([]), ["d", "--weights", "nope"])
    assert result.exit_code == 2 and "nope" in result.output


def test_resolved_config_is_saved(tmp_path):
    cfg = DemoConfig.load(None, data="d", steps=5)
    path = save_config(cfg, tmp_path)
    assert DemoConfig.load(path) == cfg


def test_every_command_has_help():
    runner = CliRunner()
    assert runner.invoke(cli, ["--help"]).exit_code == 0
    for name in cli.list_commands(None):
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output, name


def test_driftalign_error_is_one_line_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["validate", str(tmp_path / "missing")])
    assert e.value.code == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'missing'}: dataset directory not found"


def test_training_commands_take_lora_or_full():
    from driftalign.training.spd import SPDConfig

    seen: list = []
    cmd = config_command("spd-like", SPDConfig, seen.append, "SPD.")
    result = CliRunner().invoke(cmd, ["--model", "m", "--data", "d", "--out", "o", "--full", "--no-freeze-vision"])
    assert result.exit_code == 0, result.output
    assert seen[0].lora is False and seen[0].freeze_vision is False
    assert "--lora / --full" in CliRunner().invoke(cmd, ["--help"]).output


def test_main_restores_ctrl_c_when_started_with_sigint_ignored(capsys):
    """Background jobs of a non-interactive shell (CI, nohup) start with SIGINT ignored: Ctrl-C must still work."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        main(["--help"])
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)
    assert "driftalign" in capsys.readouterr().out


# ---- one error format: `error: <file or stage>: <what>`, exit 2, --verbose for the traceback -------------


def _pipeline(tmp_path: Path, text: str) -> Path:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / "studies.jsonl").write_text("{}\n")
    path = tmp_path / "p.yaml"
    path.write_text(f"out: {tmp_path / 'run'}\ndata: {data}\nteachers: null\ndrift: null\nstudent: null\n"
                    "spd: null\nconsensus: null\napo: null\neval: null\nreport: false\n" + text)
    return path


def _one_line_error(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and err.startswith("error: "), err
    return err.strip()


@pytest.mark.parametrize(("text", "message"), [
    ("world: {studies: 5}\n", "world.studies: Input should be greater than or equal to 20 (got 5)"),
    ("world: {studies: many}\n", ("world.studies: Input should be a valid integer, unable to parse string as an "
                                   "integer (got 'many')")),
    ("classifier: {epochs: 0, max_lenght: 9}\n", ("classifier.epochs: Input should be greater than 0 (got 0); "
                                                  "classifier.max_lenght: Extra inputs are not permitted")),
])
def test_a_pipeline_validation_error_is_one_line_without_pydantic_block(tmp_path, capsys, text, message):
    path = _pipeline(tmp_path, text)
    assert _one_line_error(["run", str(path)], capsys) == f"error: {path}: {message}"


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EFBIG])
def test_a_full_disk_is_one_line_naming_the_file(tmp_path, capsys, monkeypatch, code):
    """A write that fails for want of space (here: fsync in `atomic_write`, which names no file) reports the
    file being written, not a traceback, and leaves no temporary file behind."""
    import os

    def full(fd: int) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "fsync", full)
    path = _pipeline(tmp_path, "")
    marker = tmp_path / "run" / ".driftalign" / "pipeline.json"
    assert _one_line_error(["run", str(path)], capsys) == (f"error: disk full while writing {marker} "
                                                           f"({os.strerror(code)})")
    assert list(marker.parent.iterdir()) == []


def test_a_full_disk_in_a_writer_with_a_filename_and_with_verbose(tmp_path, capsys, monkeypatch):
    def full(path, obj):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr("driftalign.pipeline.runner.write_json", full)
    monkeypatch.setenv("DRIFTALIGN_VERBOSE", "")              # --verbose sets it: restored (unset) at teardown
    monkeypatch.delenv("DRIFTALIGN_VERBOSE")
    path = _pipeline(tmp_path, "")
    marker = tmp_path / "run" / ".driftalign" / "pipeline.json"
    assert _one_line_error(["run", str(path)], capsys) == \
        f"error: disk full while writing {marker} (No space left on device)"
    with pytest.raises(OSError):                              # --verbose: the traceback
        main(["--verbose", "run", str(path)])


def test_verbose_shows_the_traceback_of_a_config_error(tmp_path, monkeypatch):
    monkeypatch.setenv("DRIFTALIGN_VERBOSE", "")              # --verbose sets it: restored (unset) at teardown
    monkeypatch.delenv("DRIFTALIGN_VERBOSE")
    path = _pipeline(tmp_path, "world: {studies: 5}\n")
    with pytest.raises(ConfigError, match="world.studies"):
        main(["--verbose", "run", str(path)])


def test_libraries_reporting_a_full_disk_are_recognised():
    import sqlite3

    from driftalign.cli.app import disk_full

    assert disk_full(OSError(errno.ENOSPC, "No space left on device", "/x/y")) == \
        "disk full while writing /x/y (No space left on device)"
    try:
        try:
            raise sqlite3.OperationalError("database or disk is full")
        except sqlite3.OperationalError as e:
            raise RuntimeError("commit failed") from e
    except RuntimeError as e:
        assert disk_full(e) == "disk full while writing (database or disk is full)"
    assert disk_full(ValueError("nothing to do with space")) is None


def test_error_messages_point_to_documents_that_exist():
    import re

    root = Path(__file__).parents[1]
    cited = {m for p in (root / "src" / "driftalign").rglob("*.py") for m in re.findall(r"docs/\w+\.md", p.read_text())}
    assert cited and all((root / doc).is_file() for doc in cited), sorted(d for d in cited if not (root / d).is_file())
