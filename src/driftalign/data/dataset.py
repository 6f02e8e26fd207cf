"""Reading and writing dataset directories (SPEC §2).

    DATASET/
      studies.jsonl        one Study per line
      trajectories.jsonl   one Trajectory per line (optional until `collect` or `synth --teachers`)
      images/              the image files (paths in studies.jsonl are relative to DATASET)

`load_dataset` validates everything up front and raises `DatasetError` naming the file and line
(or the study, for images), so no stage starts on bad input.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from PIL import Image
from pydantic import BaseModel, ValidationError

from driftalign.data.io import read_jsonl, write_jsonl
from driftalign.data.schema import Study, Trajectory
from driftalign.errors import DatasetError

STUDIES_FILE = "studies.jsonl"
TRAJECTORIES_FILE = "trajectories.jsonl"
IMAGES_DIR = "images"

M = TypeVar("M", bound=BaseModel)


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    where = ".".join(str(x) for x in err["loc"]) or "row"
    return f"{where}: {err['msg'].removeprefix('Value error, ')}"


def read_unique_rows(path: str | Path, model: type[M]) -> list[M]:
    """Parse a JSONL file of `model` rows keyed by `study_id` (studies.jsonl, CONSENSUS.jsonl); a
    malformed row or a repeated study_id raises DatasetError naming the file and line."""
    rows: list[M] = []
    seen: dict[str, int] = {}
    for lineno, obj in read_jsonl(path):
        try:
            row = model.model_validate(obj)
        except ValidationError as e:
            raise DatasetError(f"{path}:{lineno}: {_first_error(e)}") from None
        study_id = row.study_id  # type: ignore[attr-defined]
        if study_id in seen:
            raise DatasetError(f"{path}:{lineno}: duplicate study_id {study_id!r} (first on line {seen[study_id]})")
        seen[study_id] = lineno
        rows.append(row)
    return rows


def read_studies(path: str | Path) -> list[Study]:
    """Parse studies.jsonl; malformed rows and duplicate study_ids name the file and line."""
    return read_unique_rows(path, Study)


def read_trajectories(path: str | Path, known_studies: set[str] | None = None) -> list[Trajectory]:
    """Parse trajectories.jsonl; rows naming an unknown study are an error when studies are given."""
    rows: list[Trajectory] = []
    for lineno, obj in read_jsonl(path):
        try:
            t = Trajectory.model_validate(obj)
        except ValidationError as e:
            raise DatasetError(f"{path}:{lineno}: {_first_error(e)}") from None
        if known_studies is not None and t.study_id not in known_studies:
            raise DatasetError(f"{path}:{lineno}: trajectory for unknown study_id {t.study_id!r}")
        rows.append(t)
    return rows


@dataclass
class Dataset:
    """A loaded dataset directory. Image paths are resolved and checked at load time."""

    root: Path
    studies: list[Study]
    trajectories: list[Trajectory] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._by_id = {s.study_id: s for s in self.studies}

    def study(self, study_id: str) -> Study:
        return self._by_id[study_id]

    def split(self, name: str | None) -> list[Study]:
        """Studies of one split (all studies when name is None or 'all')."""
        if name in (None, "all"):
            return list(self.studies)
        return [s for s in self.studies if s.split == name]

    def image_paths(self, study: Study) -> list[Path]:
        return [self.root / p for p in study.images]

    def load_images(self, study: Study) -> list[Image.Image]:
        """Open a study's images as RGB; a missing or corrupt file names the study."""
        images = []
        for path in self.image_paths(study):
            try:
                with Image.open(path) as im:
                    images.append(im.convert("RGB"))
            except FileNotFoundError:
                raise DatasetError(f"study {study.study_id!r}: image {path} not found") from None
            except Exception as e:  # PIL raises several types for corrupt files
                raise DatasetError(f"study {study.study_id!r}: cannot read image {path} ({e})") from None
        return images

    def image_sizes(self, study: Study) -> list[tuple[int, int]]:
        """(height, width) of each of a study's images, from the file headers (no pixel decoding); a missing or
        corrupt file names the study."""
        sizes = []
        for path in self.image_paths(study):
            try:
                with Image.open(path) as im:
                    width, height = im.size
            except FileNotFoundError:
                raise DatasetError(f"study {study.study_id!r}: image {path} not found") from None
            except Exception as e:  # PIL raises several types for corrupt files
                raise DatasetError(f"study {study.study_id!r}: cannot read image {path} ({e})") from None
            sizes.append((height, width))
        return sizes

    def trajectories_by_study(self, teachers: Iterable[str] | None = None) -> dict[str, list[Trajectory]]:
        """Group trajectories per study, optionally keeping only some teachers."""
        keep = set(teachers) if teachers is not None else None
        out: dict[str, list[Trajectory]] = {}
        for t in self.trajectories:
            if keep is None or t.teacher in keep:
                out.setdefault(t.study_id, []).append(t)
        return out

    @property
    def teachers(self) -> list[str]:
        return sorted({t.teacher for t in self.trajectories})


def _check_images(root: Path, studies: list[Study], path: Path, verify: bool) -> None:
    root_resolved = root.resolve()
    for study in studies:
        for rel in study.images:
            p = (root / rel).resolve()
            if not p.is_relative_to(root_resolved):
                raise DatasetError(f"{path}: study {study.study_id!r}: image path {rel!r} escapes the dataset directory")
            if not p.is_file():
                raise DatasetError(f"{path}: study {study.study_id!r}: image {rel!r} not found")
            if verify:
                try:
                    with Image.open(p) as im:
                        im.verify()
                except Exception as e:
                    raise DatasetError(f"{path}: study {study.study_id!r}: image {rel!r} is unreadable ({e})") from None


def load_dataset(root: str | Path, *, with_trajectories: bool = True, verify_images: bool = True) -> Dataset:
    """Load and validate a dataset directory (see module docstring)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset directory not found")
    studies_path = root / STUDIES_FILE
    studies = read_studies(studies_path)
    _check_images(root, studies, studies_path, verify_images)
    trajectories: list[Trajectory] = []
    traj_path = root / TRAJECTORIES_FILE
    if with_trajectories and traj_path.is_file():
        trajectories = read_trajectories(traj_path, {s.study_id for s in studies})
    return Dataset(root=root, studies=studies, trajectories=trajectories)


def write_studies(root: str | Path, studies: Iterable[Study]) -> int:
    return write_jsonl(Path(root) / STUDIES_FILE, (s.model_dump(mode="json") for s in studies))


def write_trajectories(root: str | Path, trajectories: Iterable[Trajectory], name: str = TRAJECTORIES_FILE) -> int:
    return write_jsonl(Path(root) / name, (t.model_dump(mode="json") for t in trajectories))
