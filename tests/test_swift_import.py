"""ms-swift rows (what the official APO release trains from) import into the dataset contract."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from driftalign.cli.app import main
from driftalign.data import load_dataset
from driftalign.data.swift_import import import_swift
from driftalign.errors import DatasetError


def _rows(tmp_path):
    (tmp_path / "imgs").mkdir()
    for name in ("a.png", "b.png"):
        Image.new("L", (16, 16), 100).save(tmp_path / "imgs" / name)
    user = {"role": "user", "content": "<image>This is a patient's chest DR image. The patient has been diagnosed with edema."}
    return [
        {"messages": [user, {"role": "assistant", "content": "Perihilar haze."}], "images": ["imgs/a.png"],
         "rejected_response": "Left effusion."},
        {"messages": [user, {"role": "assistant", "content": "Bilateral haze."}], "images": ["imgs/a.png"], "teacher": "gpt-5"},
        {"messages": [user, {"role": "assistant", "content": "Normal."}], "images": ["imgs/b.png"],
         "rejected_response": ["x", "y"], "labels": {"Edema": 1}, "split": "test"},
    ]


def test_import_groups_rows_by_images_and_keeps_rejected(tmp_path):
    src = tmp_path / "train.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in _rows(tmp_path)) + "\n")
    n_studies, n_traj = import_swift(src, tmp_path / "ds")
    assert (n_studies, n_traj) == (2, 6)
    ds = load_dataset(tmp_path / "ds")
    teachers = sorted(t.teacher for t in ds.trajectories)
    assert teachers == ["gpt-5", "swift-chosen", "swift-chosen", "swift-rejected", "swift-rejected-0", "swift-rejected-1"]
    assert all("<image>" not in t.prompt for t in ds.trajectories)
    by_split = {s.split: s for s in ds.studies}
    assert by_split["test"].labels["Edema"] == 1


def test_import_json_list_via_cli(tmp_path, capsys):
    src = tmp_path / "train.json"
    src.write_text(json.dumps(_rows(tmp_path)))
    main(["import-swift", str(src), "--out", str(tmp_path / "ds"), "--teacher", "consensus"])
    assert "imported 2 studies and 6 trajectories" in capsys.readouterr().out


def test_import_errors_name_the_row(tmp_path):
    rows = _rows(tmp_path)
    rows[1]["images"] = ["imgs/missing.png"]
    rows[1]["study_id"] = "s-missing"
    src = tmp_path / "bad.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(DatasetError, match=r"bad\.jsonl:2: study 's-missing': image .*missing\.png not found"):
        import_swift(src, tmp_path / "ds")
    src.write_text(json.dumps({"images": ["imgs/a.png"]}) + "\n")
    with pytest.raises(DatasetError, match=r"bad\.jsonl:1: missing or empty 'messages'"):
        import_swift(src, tmp_path / "ds2")
