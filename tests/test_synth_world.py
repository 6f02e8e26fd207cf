"""Truth sampling (prevalence, co-occurrence, splits, external shift) and the world builder
(dataset contract, determinism, atomicity, CLI)."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from driftalign.cli.app import cli
from driftalign.constants import MSCXRT_FINDINGS, OBSERVATIONS
from driftalign.data.dataset import load_dataset
from driftalign.errors import ConfigError
from driftalign.synth import world as world_module
from driftalign.synth.sampling import DEVICES
from driftalign.synth.truth import StudyTruth
from driftalign.synth.world import build_world, sample_truth, sample_truths


@pytest.fixture(scope="module")
def truths_2000() -> list[tuple[StudyTruth, str]]:
    return sample_truths(2000, seed=0)


def _prevalence(truths: list[StudyTruth], name: str, value: int = 1) -> float:
    return sum(t.labels()[name] == value for t in truths) / len(truths)


def test_splits_are_exact_and_external_is_extra(truths_2000) -> None:
    splits = Counter(s for _, s in truths_2000)
    assert splits == {"train": 1400, "val": 200, "test": 400, "external": 200}
    ids = [t.study_id for t, _ in truths_2000]
    assert ids[0] == "synth-000000" and ids[-1] == "synth-002199" and len(set(ids)) == 2200


def test_internal_prevalence_is_in_range(truths_2000) -> None:
    internal = [t for t, s in truths_2000 if s != "external"]
    assert 0.25 <= _prevalence(internal, "No Finding") <= 0.35
    for name in MSCXRT_FINDINGS:   # enriched: each must be learnable from 2,000 studies
        assert 0.08 <= _prevalence(internal, name) <= 0.35, name
    for name in OBSERVATIONS:
        assert _prevalence(internal, name) > 0.02, name
    findings = [f for t in internal for f in t.findings]
    hedged = sum(f.uncertain for f in findings) / len(findings)
    assert 0.05 <= hedged <= 0.11


def test_co_occurrence(truths_2000) -> None:
    internal = [t for t, s in truths_2000 if s != "external"]

    def cond(a: str, b: str) -> float:
        given = [t for t in internal if b in t.present()]
        return sum(a in t.present() for t in given) / len(given)

    def base(a: str) -> float:
        return sum(a in t.present() for t in internal) / len(internal)

    assert cond("Atelectasis", "Pleural Effusion") > 1.5 * base("Atelectasis")
    assert cond("Cardiomegaly", "Edema") > 2 * base("Cardiomegaly")
    assert cond("Pleural Effusion", "Edema") > 1.5 * base("Pleural Effusion")
    assert cond("Support Devices", "Edema") > 1.3 * base("Support Devices")
    for t in internal:   # pneumonia always comes with its consolidation or opacity, same lobe
        pna = t.finding("Pneumonia")
        if pna is not None:
            partner = t.finding("Consolidation") or t.finding("Lung Opacity")
            assert partner is not None and (partner.side, partner.location) == (pna.side, pna.location)


def test_findings_carry_details() -> None:
    truths = [t for t, _ in sample_truths(600, seed=3)]
    for t in truths:
        for f in t.findings:
            if f.name in ("Pleural Effusion", "Pneumothorax"):
                assert f.side in ("left", "right", "bilateral") and f.severity in ("small", "moderate", "large")
            if f.name in ("Consolidation", "Pneumonia"):
                assert f.location in ("upper lobe", "middle lobe", "lingula", "lower lobe")
            if f.name == "Lung Lesion":
                assert f.detail in ("nodule", "mass")
            if f.name == "Support Devices":
                assert f.detail in DEVICES
        assert not set(t.negatives) & t.present(), "a negative contradicts a finding"
    devices = Counter(f.detail for t in truths for f in t.findings if f.name == "Support Devices")
    assert {"endotracheal tube", "central venous catheter", "pacemaker", "nasogastric tube", "chest tube"} <= set(devices)


def test_external_split_has_shifted_acquisition_and_prevalence(truths_2000) -> None:
    internal = [t for t, s in truths_2000 if s != "external"]
    external = [t for t, s in truths_2000 if s == "external"]
    assert max(t.acquisition.noise for t in internal) < min(t.acquisition.noise for t in external)
    assert all(abs(t.acquisition.rotation_deg) <= 4 for t in internal)
    assert all(abs(t.acquisition.rotation_deg) >= 4 for t in external)
    assert all(abs(t.acquisition.brightness) >= 0.06 for t in external)
    assert _prevalence(external, "No Finding") < _prevalence(internal, "No Finding") - 0.05
    assert _prevalence(external, "Support Devices") > _prevalence(internal, "Support Devices") + 0.05


def test_sampling_is_deterministic_and_per_study() -> None:
    a, b = sample_truths(60, seed=4), sample_truths(60, seed=4)
    assert a == b
    assert sample_truths(60, seed=5) != a
    bigger = sample_truths(200, seed=4)
    assert [t for t, _ in bigger[:60]] == [t for t, _ in a[:60]]   # study i does not depend on n
    truth = sample_truth(np.random.default_rng(1), "x")
    assert StudyTruth.from_dict(json.loads(json.dumps(truth.to_dict()))) == truth


def test_sample_truths_rejects_zero() -> None:
    with pytest.raises(ValueError, match="at least one study"):
        sample_truths(0, seed=0)


# ---------------------------------------------------------------- world builder


def test_build_world_writes_the_dataset_contract(tmp_path: Path) -> None:
    out = build_world(tmp_path / "w", studies=40, seed=1, image_size=48, teachers="none", progress=False)
    ds = load_dataset(out)
    assert len(ds.studies) == 44 and ds.trajectories == []
    assert not (out / "trajectories.jsonl").exists()
    study = ds.studies[0]
    assert study.study_id == "synth-000000" and study.meta["synthetic"] is True
    truth = StudyTruth.from_dict(study.meta["truth"])
    assert study.labels == truth.labels()
    assert study.impression and study.images == ["images/synth-000000.png"]
    with Image.open(out / study.images[0]) as im:
        assert im.size == (48, 48) and im.mode == "L"
    manifest = json.loads((out / "world.json").read_text())
    assert manifest["synthetic"] is True and manifest["studies_per_split"]["external"] == 4
    assert [p.name for p in tmp_path.iterdir()] == ["w"], "no temporary directories left behind"


def test_build_world_is_deterministic_with_and_without_a_process_pool(tmp_path: Path) -> None:
    n = world_module.PARALLEL_MIN_STUDIES
    a = build_world(tmp_path / "a", studies=n, seed=7, image_size=32, teachers="none", workers=1, progress=False)
    b = build_world(tmp_path / "b", studies=n, seed=7, image_size=32, teachers="none", workers=2, progress=False)
    assert (a / "studies.jsonl").read_bytes() == (b / "studies.jsonl").read_bytes()
    for name in ("synth-000000.png", f"synth-{n - 1:06d}.png", f"synth-{n + 3:06d}.png"):
        assert (a / "images" / name).read_bytes() == (b / "images" / name).read_bytes()
    c = build_world(tmp_path / "c", studies=20, seed=8, image_size=32, teachers="none", progress=False)
    assert (c / "studies.jsonl").read_bytes() != (a / "studies.jsonl").read_bytes()


def test_failed_build_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(world_module, "write_studies", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        build_world(tmp_path / "w", studies=10, teachers="none", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_existing_directory(tmp_path: Path) -> None:
    out = tmp_path / "w"
    out.mkdir()
    build_world(out, studies=5, teachers="none", progress=False)   # an empty directory is fine
    (out / "mine.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not empty.*--overwrite"):
        build_world(out, studies=5, teachers="none", progress=False)
    assert (out / "mine.txt").exists()
    build_world(out, studies=6, teachers="none", overwrite=True, progress=False)
    assert not (out / "mine.txt").exists() and len(load_dataset(out).studies) == 7
    assert [p.name for p in tmp_path.iterdir()] == ["w"]


def test_stale_temporary_build_is_removed(tmp_path: Path) -> None:
    stale = tmp_path / ".w.tmp"      # what a killed build leaves
    stale.mkdir()
    (stale / "studies.jsonl").write_text("half")
    (stale / "stray.txt").write_text("from the killed build")
    build_world(tmp_path / "w", studies=3, teachers="none", progress=False)
    assert not stale.exists() and [p.name for p in tmp_path.iterdir()] == ["w"]
    assert not (tmp_path / "w" / "stray.txt").exists() and len(load_dataset(tmp_path / "w").studies) == 3


def test_bad_arguments_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="studies"):
        build_world(tmp_path / "w", studies=0, teachers="none")
    with pytest.raises(ConfigError, match="image_size"):
        build_world(tmp_path / "w", studies=3, image_size=2000, teachers="none")
    assert not (tmp_path / "w").exists()


def test_cli_synth(tmp_path: Path) -> None:
    out = tmp_path / "cli_world"
    result = CliRunner().invoke(cli, ["synth", "--studies", "30", "--out", str(out), "--seed", "2",
                                      "--image-size", "32", "--teachers", "none"])
    assert result.exit_code == 0, result.output
    assert "synthetic" in result.output and "Pneumothorax" in result.output and "timings" in result.output
    assert len(load_dataset(out).studies) == 33
    assert "image_size: 32" in (out / "driftalign_config.yaml").read_text()
    again = CliRunner().invoke(cli, ["synth", "--studies", "30", "--out", str(out), "--teachers", "none"])
    assert again.exit_code != 0 and "not empty" in str(again.exception)


def test_unknown_teacher_is_a_config_error(tmp_path: Path) -> None:
    pytest.importorskip("driftalign.synth.teachers")
    with pytest.raises(ConfigError, match="unknown teacher"):
        build_world(tmp_path / "w", studies=3, teachers="sim-nonexistent")


def test_world_with_teachers(tmp_path: Path) -> None:
    teachers = pytest.importorskip("driftalign.synth.teachers")
    names = list(teachers.TEACHER_NAMES[:2])
    out = build_world(tmp_path / "w", studies=12, seed=0, teachers=",".join(names), progress=False)
    ds = load_dataset(out)
    assert set(ds.teachers) == set(names)
    assert {t.study_id for t in ds.trajectories} <= {s.study_id for s in ds.studies}


@pytest.mark.slow
def test_2000_studies_with_all_teachers_under_two_minutes(tmp_path: Path) -> None:
    pytest.importorskip("driftalign.synth.teachers")
    start = time.perf_counter()
    out = build_world(tmp_path / "w2000", studies=2000, seed=0, teachers="all", progress=False)
    elapsed = time.perf_counter() - start
    ds = load_dataset(out, verify_images=False)
    assert len(ds.studies) == 2200 and len(ds.teachers) == 7
    assert elapsed < 120, f"{elapsed:.1f} s"
