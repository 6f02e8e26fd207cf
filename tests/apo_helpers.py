"""Helpers (no tests) for the APO tests: small self-built fixtures, independent of the synthetic world.

A 6-study dataset with 56 px images and three teachers with templated answers, and a consensus
file whose rows have 3, 2 (one teacher missing) and 1 negatives.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from driftalign.constants import OBSERVATIONS
from driftalign.data.io import write_jsonl
from driftalign.data.schema import Study, Trajectory

TEACHERS = ("sim-a", "sim-b", "sim-c")
ANSWERS = {
    "sim-a": "Small left pleural effusion. No pneumothorax.",
    "sim-b": "There is a left pleural effusion with mild edema. No pneumothorax.",
    "sim-c": "Right pneumothorax. No effusion.",
}
CONSENSUS_TEXT = "There is a left pleural effusion. No pneumothorax."


def build_mini_dataset(root: Path, n_studies: int = 6, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    studies, trajectories = [], []
    labels = {name: None for name in OBSERVATIONS}
    labels["Pleural Effusion"] = 1
    labels["Pneumothorax"] = 0
    for i in range(n_studies):
        sid = f"s{i:03d}"
        Image.fromarray(rng.integers(0, 255, (56, 56), dtype=np.uint8)).convert("RGB").save(root / "images" / f"{sid}.png")
        studies.append(Study(study_id=sid, images=[f"images/{sid}.png"], labels=labels,
                             findings="Left pleural effusion.", impression="No pneumothorax.", split="train"))
        for t in TEACHERS:
            trajectories.append(Trajectory(study_id=sid, teacher=t, prompt="p", response=ANSWERS[t]))
    write_jsonl(root / "studies.jsonl", (s.model_dump(mode="json") for s in studies))
    write_jsonl(root / "trajectories.jsonl", (t.model_dump(mode="json") for t in trajectories))
    return root


def consensus_rows(study_ids: list[str]) -> list[dict]:
    """Rows with 3 negatives, except: study 1 misses sim-c (2 negatives), study 2 keeps only sim-c."""
    drifts = {"sim-a": 0.0, "sim-b": 0.33, "sim-c": 1.0}
    rows = []
    for i, sid in enumerate(study_ids):
        teachers = list(TEACHERS)
        if i == 1:
            teachers = ["sim-a", "sim-b"]
        if i == 2:
            teachers = ["sim-c"]
        rows.append({
            "study_id": sid, "prompt": "p", "chosen": CONSENSUS_TEXT, "strategy": "vote",
            "negatives": [{"teacher": t, "response": ANSWERS[t], "drift": drifts[t]} for t in teachers],
            "synthetic": True,
        })
    return rows


def write_consensus(path: Path, study_ids: list[str]) -> Path:
    write_jsonl(path, consensus_rows(study_ids))
    return path
