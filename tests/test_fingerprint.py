"""A stage's fingerprint covers what it reads: user files outside OUT are hashed, finished artefacts checked."""

from __future__ import annotations

import os
import shutil
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from safetensors.numpy import save_file

from driftalign.data.integrity import artefact_problem
from driftalign.errors import ConfigError
from driftalign.hashing import file_fingerprint
from driftalign.pipeline import PipelineConfig
from driftalign.pipeline.runner import run_stages
from driftalign.pipeline.stages import Stage, plan, stage_hash

STUDY = '{"study_id": "s%03d", "report": "No acute cardiopulmonary process.", "images": ["images/s%03d.png"]}\n'


def _dataset(root: Path, studies: int = 40) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "studies.jsonl").write_text("".join(STUDY % (i, i) for i in range(studies)))
    rows = "".join('{"study_id": "s%03d", "teacher": "t"}\n' % i for i in range(studies))
    (root / "trajectories.jsonl").write_text(rows)
    for i in range(studies):
        (root / "images" / f"s{i:03d}.png").write_bytes(b"png" * 10)
    return root


def _truncate_mid_line(path: Path) -> None:
    text = path.read_bytes()
    path.write_bytes(text[: len(text) - 17])


def _hashes(stages: list[Stage], out: Path) -> dict[str, str]:
    hashes: dict[str, str] = {}
    for s in stages:
        hashes[s.name] = stage_hash(s, hashes, out)
    return hashes


def test_file_fingerprint_sees_size_mtime_and_both_ends(tmp_path):
    f = tmp_path / "big.jsonl"
    f.write_bytes(b"a" * 300_000)
    first = file_fingerprint(f)
    st = f.stat()
    f.write_bytes(b"a" * 299_999 + b"b")                        # same size, same mtime, last byte changed
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    changed = file_fingerprint(f)
    assert changed != first
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))     # touched: a large file is not read whole
    assert file_fingerprint(f) != changed
    small = tmp_path / "teachers.yaml"
    small.write_text("teachers: []\n")
    digest = file_fingerprint(small)
    os.utime(small, ns=(0, 10**9))                              # a small file is hashed whole: mtime left out
    assert file_fingerprint(small) == digest
    assert file_fingerprint(tmp_path / "absent") is None


def test_a_changed_user_dataset_changes_the_hash_of_the_stages_that_read_it(tmp_path):
    data = _dataset(tmp_path / "mydata")
    teachers = tmp_path / "teachers.yaml"
    teachers.write_text("teachers: []\n")
    cfg = PipelineConfig.model_validate({"out": tmp_path / "run", "data": data, "world": None,
                                         "teachers": {"simulated": False, "file": teachers}, "spd": {"max_steps": 3}})
    stages = plan(cfg)
    out = cfg.out.resolve()
    before = _hashes(stages, out)
    assert before == _hashes(stages, out)                       # unchanged files: the same hashes

    (data / "trajectories.jsonl").write_text('{"study_id": "s000", "teacher": "t"}\n')
    trajectories = _hashes(stages, out)
    assert trajectories["collect"] == before["collect"]         # collect writes trajectories.jsonl: not its input
    readers = [s.name for s in stages if "data" in s.config or "data" in s.config.get("generate", {})]
    assert {"drift", "spd", "consensus", "apo-uniform", "eval-spd"} <= set(readers)
    assert all(trajectories[n] != before[n] for n in readers)

    _truncate_mid_line(data / "studies.jsonl")                  # the case: cut mid-line under a finished run
    studies = _hashes(stages, out)
    assert all(studies[n] != trajectories[n] for n in studies)  # every stage reads the studies (student via collect)


def test_a_user_input_changes_only_the_stages_that_read_it(tmp_path):
    cfg = PipelineConfig.model_validate({
        "out": tmp_path / "run", "world": {"studies": 20}, "spd": {"max_steps": 3},
        "grpo": {"grpo-g": {"switch_step": 1, "token_weights": "gradient", "classifier": str(tmp_path / "clf")}}})
    (tmp_path / "clf" / "final").mkdir(parents=True)
    weights = tmp_path / "clf" / "final" / "model.safetensors"
    save_file({"w": np.zeros((4, 4), np.float32)}, str(weights))
    stages = plan(cfg)
    out = cfg.out.resolve()
    before = _hashes(stages, out)
    save_file({"w": np.ones((4, 4), np.float32)}, str(weights))  # the user's classifier retrained
    after = _hashes(stages, out)
    assert sorted(n for n in after if after[n] != before[n]) == ["eval-grpo-g", "grpo-g"]


def _quiet() -> Console:
    return Console(file=StringIO(), width=300)


def test_a_changed_user_file_reruns_what_reads_it(tmp_path):
    data = _dataset(tmp_path / "mydata", studies=3)
    out, calls = tmp_path / "run", []

    def stage(name: str, config: dict, after: list[str]) -> Stage:
        def go() -> None:
            calls.append(name)
            (out / f"{name}.txt").write_text("x")
        return Stage(name, name, config, go, outputs=[out / f"{name}.txt"], done=out / f"{name}.txt", after=after)

    def stages() -> list[Stage]:
        return [stage("reads", {"data": str(data)}, []), stage("after-it", {}, ["reads"]), stage("other", {"v": 1}, [])]

    out.mkdir()
    run_stages(stages(), out, _quiet())
    calls.clear()
    run_stages(stages(), out, _quiet())
    assert calls == []
    _truncate_mid_line(data / "studies.jsonl")
    run_stages(stages(), out, _quiet())
    assert calls == ["reads", "after-it"]
    calls.clear()
    (data / "images" / "s001.png").write_bytes(b"another image")
    run_stages(stages(), out, _quiet())
    assert calls == ["reads", "after-it"]


def test_a_truncated_model_or_jsonl_is_not_up_to_date(tmp_path):
    out, calls = tmp_path / "run", []

    def train() -> None:
        calls.append("train")
        (out / "train" / "final").mkdir(parents=True)
        (out / "train" / "final" / "config.json").write_text("{}")
        save_file({"w": np.arange(50_000, dtype=np.float32)}, str(out / "train" / "final" / "model.safetensors"))

    def rows() -> None:
        calls.append("rows")
        (out / "rows.jsonl").write_text('{"a": 1}\n{"a": 2}\n')

    def stages() -> list[Stage]:
        final = out / "train" / "final"
        return [Stage("train", "train", {}, train, outputs=[out / "train"], done=final / "config.json"),
                Stage("rows", "rows", {}, rows, outputs=[out / "rows.jsonl"], done=out / "rows.jsonl", after=["train"])]

    out.mkdir()
    run_stages(stages(), out, _quiet())
    assert artefact_problem([out / "train", out / "rows.jsonl"]) is None
    calls.clear()
    weights = out / "train" / "final" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    console = _quiet()
    record = run_stages(stages(), out, console)
    assert calls == ["train"] and record["train"]["action"] == "fresh" and record["rows"]["action"] == "skip"
    notice = [line for line in console.file.getvalue().splitlines() if line.startswith("!")]
    assert notice == [f"! train: {weights}: corrupt or truncated (Error while deserializing header: incomplete "
                      "metadata, file not fully covered); running it again"]
    calls.clear()
    _truncate_mid_line(out / "rows.jsonl")
    record = run_stages(stages(), out, _quiet())
    assert calls == ["rows"] and record["rows"]["action"] == "fresh"
    assert (out / "rows.jsonl").read_text().endswith('{"a": 2}\n')


def test_loading_a_truncated_model_names_the_file_in_one_line(tiny_student, tmp_path):
    from driftalign.models.load import load_model

    broken = tmp_path / "broken"
    shutil.copytree(tiny_student, broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ConfigError) as e:
        load_model(broken)
    message = str(e.value)
    assert message.startswith(f"{broken}: model.safetensors is corrupt or truncated (") and "\n" not in message
