"""A tiny hand-made dataset for the student/SPD/generate tests (no dependency on the synth world).

`make_tiny_dataset` writes a valid dataset directory: studies with one 64 px PNG each, whose
brightness encodes one finding, and two or three teacher trajectories per study (one refusal).
Other test modules import it (`from test_models_data import make_tiny_dataset`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from driftalign.data import Study, Trajectory, load_dataset, write_studies, write_trajectories

TEACHERS = ("sim-a", "sim-b", "sim-c")


def _report(effusion: bool) -> str:
    if effusion:
        return "There is a moderate right pleural effusion. Impression: pleural effusion."
    return "The lungs are clear. No pleural effusion. Impression: no acute cardiopulmonary process."


def make_tiny_dataset(root: Path, n_studies: int = 12, teachers: tuple[str, ...] = TEACHERS,
                      with_trajectories: bool = True) -> Path:
    """Write `n_studies` studies (2/3 train, 1/3 test); teacher sim-c refuses on every third study."""
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    studies, trajectories = [], []
    for i in range(n_studies):
        effusion = i % 2 == 1
        pixels = rng.normal(0.7 if effusion else 0.3, 0.05, size=(64, 64)).clip(0, 1)
        Image.fromarray((pixels * 255).astype(np.uint8)).convert("RGB").save(root / "images" / f"s{i}.png")
        sid = f"s{i:03d}"
        studies.append(Study(
            study_id=sid, images=[f"images/s{i}.png"],
            labels={"Pleural Effusion": 1 if effusion else 0},
            findings=_report(effusion), split="test" if i % 3 == 2 else "train",
        ))
        for t in teachers:
            refusal = t == "sim-c" and i % 3 == 0
            text = "I cannot help with that." if refusal else f"{t} says: {_report(effusion)}"
            trajectories.append(Trajectory(study_id=sid, teacher=t, prompt="Describe the image.", response=text,
                                           meta={"refusal": refusal}))
    write_studies(root, studies)
    if with_trajectories:
        write_trajectories(root, trajectories)
    return root


def test_tiny_dataset_is_valid(tmp_path: Path) -> None:
    ds = load_dataset(make_tiny_dataset(tmp_path / "d"))
    assert len(ds.studies) == 12
    assert len(ds.trajectories) == 36
    assert sum(bool(t.meta["refusal"]) for t in ds.trajectories) == 4
    assert {s.split for s in ds.studies} == {"train", "test"}
