"""Helpers shared by the teachers tests (no tests here): a tiny dataset, a fake responder, YAML."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from PIL import Image

from driftalign.data.dataset import write_studies
from driftalign.data.schema import Study
from driftalign.teachers.responder import TeacherReply

SECRET = "sk-test-SECRET123"
FAKE_TEACHERS = ("alpha", "beta", "gamma")
REFUSAL_TEXT = "As an AI, I'm not capable of interpreting medical images. Please consult a radiologist."


def make_dataset(root: Path, n_studies: int, *, two_images_every: int = 3, seed: int = 0) -> Path:
    """n studies with random 16 px images (every k-th study has two), one positive label each."""
    rng = np.random.default_rng(seed)
    names = ["Pneumonia", "Edema", "Pleural Effusion", "Cardiomegaly"]
    studies = []
    (root / "images").mkdir(parents=True, exist_ok=True)
    for i in range(n_studies):
        sid = f"s{i:04d}"
        images = [f"images/{sid}_0.png"] + ([f"images/{sid}_1.png"] if i % two_images_every == 0 else [])
        for rel in images:
            Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(root / rel)
        studies.append(Study(study_id=sid, images=images, labels={names[i % len(names)]: 1}))
    write_studies(root, studies)
    return root


class FakeTeachers:
    """Deterministic answers; 'gamma' refuses on every third study."""

    teachers: Sequence[str] = FAKE_TEACHERS

    def reply(self, teacher: str, study: Study, prompt: str) -> TeacherReply:
        if teacher == "gamma" and int(study.study_id[1:]) % 3 == 0:
            return TeacherReply(REFUSAL_TEXT, 30, 20)
        text = f"{teacher} reads {study.study_id}: findings support {study.positive_findings()} ({len(prompt)} chars asked)."
        return TeacherReply(text, 40, len(text.split()))


def write_teachers_yaml(path: Path, base_url: str, names: Sequence[str] = FAKE_TEACHERS, **fields: Any) -> Path:
    """A teachers file pointing every teacher at `base_url`; `fields` override each entry's defaults."""
    teachers = []
    for name in names:
        entry = {"name": name, "base_url": base_url, "model": name, "max_concurrency": 4, "rpm": 60000,
                 "tpm": 1e9, "params": {"temperature": 0.7, "max_tokens": 256},
                 "price_per_1k": {"input": 0.001, "output": 0.002}, "prompt": "hinted",
                 "timeout_s": 2.0, "max_retries": 8, "backoff_s": 0.01}
        entry.update(fields)
        teachers.append(entry)
    path.write_text(yaml.safe_dump({"teachers": teachers}, sort_keys=False))
    return path


def read_log(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def store_rows(path: Path) -> list[tuple]:
    """(study_id, teacher, prompt_hash, status, response) rows, read-only (works while a writer runs)."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as db:
        return db.execute("SELECT study_id, teacher, prompt_hash, status, response FROM answers").fetchall()
