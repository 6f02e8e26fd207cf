"""Stage configs: flags == YAML keys by construction; precedence default < YAML < flag; clear errors."""

from __future__ import annotations

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
