"""Import ms-swift-style JSON/JSONL rows into a driftalign dataset directory.

The official APO release trains from ms-swift rows like:

    {"messages": [{"role": "user", "content": "<image>This is a patient's chest DR image. ..."},
                  {"role": "assistant", "content": "The image shows ..."}],
     "images": ["mimic/p10/s5000/view1.jpg"],
     "rejected_response": "The heart is ..."}          # optional (string or list of strings)

Each row becomes one trajectory (the last assistant message) and, when present, one trajectory per
rejected response. Rows that share the same images (or the same explicit `study_id`) share one
study. Labels are unknown in this format, so they are all null unless the row carries `labels`.
Optional per-row keys: `study_id`, `teacher`, `rejected_teacher`, `labels`, `split`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from driftalign.data.dataset import IMAGES_DIR, write_studies, write_trajectories
from driftalign.data.io import json_error, read_jsonl
from driftalign.data.schema import Study, Trajectory
from driftalign.errors import DatasetError

IMAGE_TAG = "<image>"


def _rows(path: Path):
    """(line_or_index, row) pairs from a .jsonl file or a .json list."""
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise DatasetError(f"{path}:{e.lineno}: malformed JSON ({json_error(e)})") from None
        if not isinstance(data, list):
            raise DatasetError(f"{path}: expected a JSON list of rows")
        for i, row in enumerate(data):
            if not isinstance(row, dict):
                raise DatasetError(f"{path}: row {i}: expected an object")
            yield f"row {i}", row
    else:
        for lineno, row in read_jsonl(path):
            yield f"{lineno}", row


def _text(content: Any) -> str:
    """Message content as text: a string, or OpenAI-style parts [{type: text, text: ...}, ...]."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _parse_row(row: dict[str, Any], where: str) -> tuple[str, str, list[str]]:
    messages = row.get("messages")
    if not isinstance(messages, list) or not messages:
        raise DatasetError(f"{where}: missing or empty 'messages' list")
    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    assistants = [m for m in messages if isinstance(m, dict) and m.get("role") == "assistant"]
    if not users or not assistants:
        raise DatasetError(f"{where}: 'messages' needs a user and an assistant message")
    prompt = _text(users[-1].get("content")).replace(IMAGE_TAG, "").strip()
    response = _text(assistants[-1].get("content")).strip()
    rejected = row.get("rejected_response") or []
    if isinstance(rejected, str):
        rejected = [rejected]
    if not all(isinstance(r, str) for r in rejected):
        raise DatasetError(f"{where}: 'rejected_response' must be a string or a list of strings")
    return prompt, response, rejected


def import_swift(
    src: str | Path,
    out: str | Path,
    *,
    image_root: str | Path | None = None,
    teacher: str = "swift-chosen",
    rejected_teacher: str = "swift-rejected",
    split: str = "train",
) -> tuple[int, int]:
    """Convert ms-swift rows at `src` into a dataset directory `out`. Returns (studies, trajectories)."""
    src, out = Path(src), Path(out)
    image_root = Path(image_root) if image_root else src.parent
    (out / IMAGES_DIR).mkdir(parents=True, exist_ok=True)
    studies: dict[str, Study] = {}
    trajectories: list[Trajectory] = []
    for where_in_file, row in _rows(src):
        where = f"{src}:{where_in_file}"
        prompt, response, rejected = _parse_row(row, where)
        images = row.get("images") or []
        if isinstance(images, str):
            images = [images]
        if not images:
            raise DatasetError(f"{where}: row has no 'images'")
        digest = hashlib.sha256("\n".join(map(str, images)).encode()).hexdigest()[:16]
        study_id = str(row.get("study_id") or f"swift-{digest}")
        if study_id not in studies:
            rel_images = []
            for k, img in enumerate(images):
                if not isinstance(img, str) or "://" in img:
                    raise DatasetError(f"{where}: image {img!r} is not a local path (download it first)")
                path = Path(img) if Path(img).is_absolute() else image_root / img
                if not path.is_file():
                    raise DatasetError(f"{where}: study {study_id!r}: image {path} not found")
                rel = f"{IMAGES_DIR}/{study_id}_{k}{path.suffix.lower() or '.png'}"
                shutil.copyfile(path, out / rel)
                rel_images.append(rel)
            try:
                studies[study_id] = Study(study_id=study_id, images=rel_images, labels=row.get("labels") or {},
                                          split=row.get("split", split), meta={"source": "ms-swift"})
            except ValidationError as e:
                raise DatasetError(f"{where}: {e.errors()[0]['msg']}") from None
        meta = {"source": "ms-swift", "row": where_in_file}
        trajectories.append(Trajectory(study_id=study_id, teacher=str(row.get("teacher") or teacher),
                                       prompt=prompt, response=response, meta={**meta, "role": "chosen"}))
        for j, rej in enumerate(rejected):
            name = str(row.get("rejected_teacher") or rejected_teacher)
            if len(rejected) > 1:
                name = f"{name}-{j}"
            trajectories.append(Trajectory(study_id=study_id, teacher=name, prompt=prompt, response=rej,
                                           meta={**meta, "role": "rejected"}))
    write_studies(out, studies.values())
    write_trajectories(out, trajectories)
    return len(studies), len(trajectories)
