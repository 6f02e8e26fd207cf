"""Every --model takes a model directory or a training output directory (its final/), with one clear error."""

from __future__ import annotations

import shutil

import pytest

from driftalign.errors import ConfigError
from driftalign.models.load import load_processor, model_dir


def test_model_dir_accepts_both_layouts_and_says_what_it_expected(tiny_student, tmp_path):
    run = tmp_path / "spd_out"
    shutil.copytree(tiny_student, run / "final")
    assert model_dir(tiny_student) == tiny_student
    assert model_dir(run) == run / "final"
    assert load_processor(run).tokenizer is not None
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"neither a model directory \(no config.json\) nor a training output"):
        model_dir(tmp_path / "empty")
    with pytest.raises(ConfigError, match="not found; expected a model directory"):
        model_dir(tmp_path / "missing")


def test_generate_cli_takes_a_training_output_directory(tiny_student, synth_world, tmp_path, capsys):
    from driftalign.cli.app import main

    run = tmp_path / "spd_out"
    shutil.copytree(tiny_student, run / "final")
    out = tmp_path / "pred.jsonl"
    main(["generate", "--model", str(run), "--data", str(synth_world), "--split", "test", "--out", str(out),
          "--max-new-tokens", "4"])
    assert out.is_file() and len(out.read_text().splitlines()) > 0
