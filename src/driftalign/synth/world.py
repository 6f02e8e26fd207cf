"""Build a synthetic dataset directory (SPEC §2 contract) from truths, images, reports and teachers.

    build_world(out, studies=2000, seed=0)  ->  out/
        studies.jsonl        meta = {"truth": StudyTruth.to_dict(), "synthetic": True, "render_seed": ...}
        images/synth-000123.png
        trajectories.jsonl   the simulated teachers' answers (absent with teachers="none")
        world.json           how it was built: parameters, counts per split, prevalence, timings

Atomic (`data.io.atomic_directory`): everything is written into the hidden temporary sibling
`.<name>.tmp`, fsynced and renamed to `out` only when complete, so a failed or killed build never
leaves a half-written dataset (a killed build's temporary directory is removed by the next build
of the same `out`, or by `driftalign run`).
Deterministic: the same seed gives a byte-identical studies.jsonl and identical images, whatever
the number of worker processes (each study has its own seeds).
"""

from __future__ import annotations

import importlib
import os
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import track

from driftalign.constants import MSCXRT_FINDINGS, OBSERVATIONS
from driftalign.data.dataset import IMAGES_DIR, write_studies, write_trajectories
from driftalign.data.io import atomic_directory, write_json
from driftalign.data.schema import Study
from driftalign.errors import ConfigError
from driftalign.synth.render import MAX_SIZE, MIN_SIZE, render
from driftalign.synth.reports import write_report
from driftalign.synth.sampling import sample_truth, sample_truths
from driftalign.synth.truth import StudyTruth

__all__ = ["build_world", "make_studies", "resolve_teachers", "sample_truth", "sample_truths"]

MANIFEST_FILE = "world.json"
PARALLEL_MIN_STUDIES = 200   # below this a process pool costs more than it saves


def resolve_teachers(teachers: str | Sequence[str]) -> tuple[str, ...]:
    """'all' -> every simulated teacher; 'none' or '' -> (); 'a,b' or a list -> those, checked."""
    if isinstance(teachers, str):
        spec = teachers.strip()
        if spec.lower() in ("none", ""):
            return ()
        names = [t.strip() for t in spec.split(",") if t.strip()]
    else:
        names = list(teachers)
    if not names:
        return ()
    TEACHER_NAMES = _teachers_module().TEACHER_NAMES
    if names == ["all"]:
        return tuple(TEACHER_NAMES)
    unknown = [n for n in names if n not in TEACHER_NAMES]
    if unknown:
        raise ConfigError(f"unknown teacher(s) {unknown}; choose 'all', 'none' or some of {list(TEACHER_NAMES)}")
    return tuple(dict.fromkeys(names))


def _teachers_module() -> Any:
    """The simulated teachers (driftalign.synth.teachers), imported only when teachers are asked for."""
    try:
        return importlib.import_module("driftalign.synth.teachers")
    except ModuleNotFoundError as e:
        if e.name != "driftalign.synth.teachers":
            raise
        raise ConfigError("simulated teachers are not installed (driftalign.synth.teachers); use teachers='none'") from None


def _seed(seed: int, index: int, purpose: int) -> int:
    """An independent 31-bit seed per (world seed, study index, purpose)."""
    return int(np.random.default_rng([seed, index, purpose]).integers(2**31 - 1))


def make_studies(truths: list[tuple[StudyTruth, str]], seed: int) -> list[Study]:
    """Study rows (labels and reference report from the truth); images are rendered separately."""
    studies = []
    for i, (truth, split) in enumerate(truths):
        findings, impression = write_report(truth, np.random.default_rng(_seed(seed, i, 1)))
        studies.append(Study(
            study_id=truth.study_id,
            images=[f"{IMAGES_DIR}/{truth.study_id}.png"],
            labels=truth.labels(),
            findings=findings,
            impression=impression,
            split=split,
            meta={"truth": truth.to_dict(), "synthetic": True, "render_seed": _seed(seed, i, 2)},
        ))
    return studies


def _render_one(job: tuple[dict[str, Any], int, int, str]) -> None:
    truth_dict, size, render_seed, path = job
    render(StudyTruth.from_dict(truth_dict), size, render_seed).save(path, format="PNG")


def _render_all(studies: list[Study], root: Path, size: int, workers: int, progress: bool) -> None:
    (root / IMAGES_DIR).mkdir(parents=True, exist_ok=True)
    jobs = [(s.meta["truth"], size, s.meta["render_seed"], str(root / s.images[0])) for s in studies]
    label = f"rendering {len(jobs)} synthetic images ({size} px)"
    if workers > 1 and len(jobs) >= PARALLEL_MIN_STUDIES:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            done = pool.map(_render_one, jobs, chunksize=max(1, len(jobs) // (workers * 8)))
            for _ in track(done, total=len(jobs), description=label, disable=not progress, transient=True):
                pass
    else:
        for job in track(jobs, description=label, disable=not progress, transient=True):
            _render_one(job)


def _summary(studies: list[Study], trajectories: Sequence[Any]) -> dict[str, Any]:
    splits = Counter(s.split for s in studies)
    prevalence: dict[str, dict[str, float]] = {}
    for split in splits:
        rows = [s for s in studies if s.split == split]
        prevalence[split] = {name: round(sum(s.labels[name] == 1 for s in rows) / len(rows), 4) for name in OBSERVATIONS}
    return {
        "studies_per_split": dict(sorted(splits.items())),
        "positive_prevalence": prevalence,
        "mscxrt_findings": list(MSCXRT_FINDINGS),
        "trajectories_per_teacher": dict(sorted(Counter(t.teacher for t in trajectories).items())),
    }


def _check_target(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ConfigError(f"{out}: directory exists and is not empty; choose another --out or pass --overwrite")


def build_world(
    out: str | Path,
    *,
    studies: int,
    seed: int = 0,
    image_size: int = 64,
    teachers: str | Sequence[str] = "all",
    overwrite: bool = False,
    workers: int | None = None,
    progress: bool = True,
) -> Path:
    """Build a synthetic world with `studies` internal studies (+10% external) into `out`; return `out`."""
    out = Path(out)
    if studies < 1:
        raise ConfigError(f"studies must be >= 1, got {studies}")
    if not MIN_SIZE <= image_size <= MAX_SIZE:
        raise ConfigError(f"image_size must be in [{MIN_SIZE}, {MAX_SIZE}], got {image_size}")
    teacher_names = resolve_teachers(teachers)
    _check_target(out, overwrite)
    with atomic_directory(out) as tmp:    # an empty `out`, or one overwrite=True allows, is replaced when complete
        manifest = _build_into(tmp, studies, seed, image_size, teacher_names, workers or min(2, os.cpu_count() or 1), progress)
        write_json(tmp / MANIFEST_FILE, manifest)
    return out


def _build_into(root: Path, n: int, seed: int, size: int, teacher_names: tuple[str, ...], workers: int,
                progress: bool) -> dict[str, Any]:
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    study_rows = make_studies(sample_truths(n, seed), seed)
    timings["truth_and_reports_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    _render_all(study_rows, root, size, workers, progress)
    timings["render_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    write_studies(root, study_rows)
    trajectories: list[Any] = []
    if teacher_names:
        trajectories = _teachers_module().simulate_trajectories(study_rows, teacher_names, seed=seed)
        write_trajectories(root, trajectories)
    timings["teachers_and_write_s"] = time.perf_counter() - t0
    return {
        "synthetic": True,
        "generator": "driftalign.synth.world.build_world",
        "parameters": {"studies": n, "seed": seed, "image_size": size, "teachers": list(teacher_names)},
        **_summary(study_rows, trajectories),
        "timings": {k: round(v, 3) for k, v in timings.items()},
    }
