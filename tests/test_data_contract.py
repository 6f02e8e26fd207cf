"""The dataset contract: valid directories load; every kind of bad input fails with a clear
message naming the file and line (or the study), and writers never leave half a file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from driftalign.constants import OBSERVATIONS
from driftalign.data import Study, Trajectory, load_dataset, write_studies, write_trajectories
from driftalign.data.io import (atomic_directory, atomic_write, open_appending, read_jsonl, remove_leftovers,
                                staging_path)
from driftalign.errors import DatasetError


def _study_row(study_id: str = "s1", **over) -> dict:
    row = {"study_id": study_id, "images": [f"images/{study_id}.png"], "labels": {"Pleural Effusion": 1,
           "Pneumothorax": 0}, "findings": "Small left effusion.", "impression": "Left effusion.", "split": "train"}
    row.update(over)
    return row


def _make(tmp_path: Path, rows: list[dict] | None = None, raw_lines: list[str] | None = None) -> Path:
    root = tmp_path / "ds"
    (root / "images").mkdir(parents=True)
    rows = rows if rows is not None else [_study_row("s1"), _study_row("s2")]
    for r in rows:
        for img in r.get("images", []):
            p = root / img
            if p.parent == root / "images":
                Image.new("L", (8, 8), 128).save(p)
    lines = raw_lines if raw_lines is not None else [json.dumps(r) for r in rows]
    (root / "studies.jsonl").write_text("\n".join(lines) + "\n")
    return root


def test_valid_dataset_loads_with_all_14_labels(tmp_path):
    ds = load_dataset(_make(tmp_path))
    assert [s.study_id for s in ds.studies] == ["s1", "s2"]
    s = ds.study("s1")
    assert set(s.labels) == set(OBSERVATIONS)
    assert s.labels["Pleural Effusion"] == 1 and s.labels["Pneumothorax"] == 0 and s.labels["Edema"] is None
    assert s.positive_findings() == ["Pleural Effusion"]
    assert s.report == "Small left effusion. Left effusion."
    assert ds.load_images(s)[0].mode == "RGB"


def test_malformed_json_names_file_and_line(tmp_path):
    root = _make(tmp_path, raw_lines=[json.dumps(_study_row("s1")), "{not json"])
    with pytest.raises(DatasetError, match=r"studies\.jsonl:2: malformed JSON"):
        load_dataset(root)


def test_a_line_cut_mid_string_says_where_once(tmp_path):
    """json says "Unterminated string starting at": the message must not read "starting at at column"."""
    p = tmp_path / "studies.jsonl"
    p.write_text('{"study_id": "s1"}\n{"study_id": "s')
    with pytest.raises(DatasetError) as e:
        list(read_jsonl(p))
    assert str(e.value) == f"{p}:2: malformed JSON (Unterminated string starting at column 14)"


def test_unknown_observation_name(tmp_path):
    root = _make(tmp_path, [_study_row("s1", labels={"Pleural effusion": 1})])
    with pytest.raises(DatasetError, match=r"studies\.jsonl:1: .*unknown observation name.*'Pleural effusion'"):
        load_dataset(root)


@pytest.mark.parametrize("bad", [2, "1", 0.5, True])
def test_label_value_outside_allowed(tmp_path, bad):
    root = _make(tmp_path, [_study_row("s1", labels={"Edema": bad})])
    with pytest.raises(DatasetError, match=r"studies\.jsonl:1: .*'Edema' has value"):
        load_dataset(root)


def test_duplicate_study_id_names_both_lines(tmp_path):
    root = _make(tmp_path, [_study_row("s1"), _study_row("s2"), _study_row("s1")])
    with pytest.raises(DatasetError, match=r"studies\.jsonl:3: duplicate study_id 's1' \(first on line 1\)"):
        load_dataset(root)


def test_missing_image_names_study(tmp_path):
    root = _make(tmp_path)
    (root / "images" / "s2.png").unlink()
    with pytest.raises(DatasetError, match=r"study 's2': image 'images/s2.png' not found"):
        load_dataset(root)


def test_corrupt_image_names_study(tmp_path):
    root = _make(tmp_path)
    (root / "images" / "s1.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(DatasetError, match=r"study 's1': image 'images/s1.png' is unreadable"):
        load_dataset(root)


def test_image_path_escaping_dataset_dir(tmp_path):
    root = _make(tmp_path, [_study_row("s1", images=["../outside.png"])])
    (tmp_path / "outside.png").write_bytes(b"")
    with pytest.raises(DatasetError, match=r"study 's1': image path '../outside.png' escapes the dataset directory"):
        load_dataset(root)


def test_unknown_split_and_missing_field(tmp_path):
    with pytest.raises(DatasetError, match=r"studies\.jsonl:1: split: split 'dev' is not one of"):
        load_dataset(_make(tmp_path, [_study_row("s1", split="dev")]))
    row = _study_row("s1")
    del row["study_id"]
    with pytest.raises(DatasetError, match=r"studies\.jsonl:1: study_id: Field required"):
        load_dataset(_make(tmp_path / "b", [row]))


def test_trajectory_for_unknown_study(tmp_path):
    root = _make(tmp_path)
    write_trajectories(root, [Trajectory(study_id="s1", teacher="t", prompt="p", response="r"),
                              Trajectory(study_id="nope", teacher="t", prompt="p", response="r")])
    with pytest.raises(DatasetError, match=r"trajectories\.jsonl:2: trajectory for unknown study_id 'nope'"):
        load_dataset(root)


def test_roundtrip_and_grouping(tmp_path):
    root = _make(tmp_path)
    ds = load_dataset(root)
    write_studies(tmp_path / "copy", ds.studies)
    assert [json.loads(line)["study_id"] for line in (tmp_path / "copy" / "studies.jsonl").read_text().splitlines()] == ["s1", "s2"]
    write_trajectories(root, [Trajectory(study_id=s, teacher=t, prompt="p", response=f"{s}-{t}")
                              for s in ("s1", "s2") for t in ("a", "b")])
    ds = load_dataset(root)
    assert ds.teachers == ["a", "b"]
    assert [t.response for t in ds.trajectories_by_study(["b"])["s2"]] == ["s2-b"]


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.jsonl"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as f:
            f.write("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old\n"
    assert list(tmp_path.iterdir()) == [target]


def test_read_jsonl_rejects_non_objects(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"a": 1}\n\n[1, 2]\n')
    with pytest.raises(DatasetError, match=r"x\.jsonl:3: expected a JSON object"):
        list(read_jsonl(p))


def test_study_model_rejects_unknown_top_level_key():
    with pytest.raises(Exception, match="extra"):
        Study.model_validate(_study_row("s1", labelz={}))


def test_atomic_write_uses_normal_file_permissions(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "f.txt") as f:
            f.write("x")
    finally:
        os.umask(umask)
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == 0o644


def test_atomic_directory_appears_complete_or_not_at_all(tmp_path):
    target = tmp_path / "final"
    with pytest.raises(RuntimeError):
        with atomic_directory(target) as staged:
            (staged / "config.json").write_text("{}")
            assert staged == staging_path(target) == tmp_path / ".final.tmp" and not target.exists()
            raise RuntimeError("failed half-way")
    assert list(tmp_path.iterdir()) == []
    with atomic_directory(target) as staged:
        (staged / "model.safetensors").write_text("v1")
    assert [p.name for p in tmp_path.iterdir()] == ["final"] and (target / "model.safetensors").read_text() == "v1"
    with pytest.raises(RuntimeError):               # a failed replacement leaves the old directory whole
        with atomic_directory(target) as staged:
            (staged / "model.safetensors").write_text("v2, half")
            raise RuntimeError("failed half-way")
    assert (target / "model.safetensors").read_text() == "v1"
    staging_path(target).mkdir()                    # what a SIGKILL leaves: removed by the next writer
    (staging_path(target) / "stray").write_text("x")
    with atomic_directory(target) as staged:
        (staged / "model.safetensors").write_text("v2")
    assert sorted(p.name for p in target.iterdir()) == ["model.safetensors"]
    assert (target / "model.safetensors").read_text() == "v2" and [p.name for p in tmp_path.iterdir()] == ["final"]


def test_remove_leftovers_deletes_only_temporary_names(tmp_path):
    leftovers = [tmp_path / ".studies.jsonl.ab12cd34.tmp", tmp_path / "spd" / ".final.tmp",
                 tmp_path / "spd" / ".final.old.tmp", tmp_path / "preds" / ".spd.jsonl.x.tmp"]
    kept = [tmp_path / "studies.jsonl", tmp_path / "spd" / "final.tmp", tmp_path / "consensus" / "vote.jsonl.partial",
            tmp_path / "spd" / ".saving" / "checkpoint-3" / "x", tmp_path / ".driftalign" / "lock"]
    for path in leftovers[:1] + leftovers[3:] + kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    for path in leftovers[1:3]:
        (path / "sub").mkdir(parents=True)
    assert sorted(remove_leftovers(tmp_path)) == sorted(leftovers)
    assert not any(p.exists() for p in leftovers) and all(p.exists() for p in kept)


def test_open_appending_ends_a_line_a_kill_cut_short(tmp_path):
    path = tmp_path / "rows.jsonl.partial"
    path.write_text('{"study_id": "s1"}\n{"study_id": "s2", "te')
    with open_appending(path) as f:
        f.write('{"study_id": "s2"}\n')
    assert path.read_text().splitlines()[1:] == ['{"study_id": "s2", "te', '{"study_id": "s2"}']
    with open_appending(path, resume=False) as f:
        f.write("x\n")
    assert path.read_text() == "x\n"
