"""Integrity checks of finished files: what `driftalign run` asks before it calls a stage up to date, and what
`models.load` checks before it loads weights. Cheap: headers and last lines, never whole tensors.

* a *.safetensors file: its header parses and its tensors cover the file exactly (`safetensors_problem`);
* a JSONL file: its last line parses (a torn write); a JSON file parses (`file_problem`);
* a directory (a model, e.g. final/): every *.safetensors below it, checkpoint-*/ left out (`corrupt_safetensors`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from driftalign.hashing import tree_files

LAST_LINE_BLOCK = 64 * 1024            # bytes read from the end of a file first when looking for its last line


def _one_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


def safetensors_problem(path: str | Path) -> str | None:
    """None if the file's safetensors header parses and the header's tensors cover the file exactly, else
    why not (one line)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy"):
            pass
    except Exception as e:  # noqa: BLE001 -- SafetensorError, OSError: every way a file can be broken
        return _one_line(e)
    return None


def corrupt_safetensors(root: str | Path) -> tuple[Path, str] | None:
    """The first *.safetensors below `root` (checkpoints left out) whose header does not parse, with why."""
    root = Path(root)
    files = [root] if root.is_file() else [p for p in tree_files(root) if p.suffix == ".safetensors"]
    for p in files:
        problem = safetensors_problem(p)
        if problem is not None:
            return p, problem
    return None


def _last_line(path: Path) -> bytes:
    with path.open("rb") as f:
        size = f.seek(0, os.SEEK_END)
        block = min(size, LAST_LINE_BLOCK)
        while True:
            f.seek(size - block)
            tail = f.read(block).rstrip(b"\r\n")
            if b"\n" in tail or block == size:
                return tail.rsplit(b"\n", 1)[-1]
            block = min(size, block * 4)


def file_problem(path: Path) -> str | None:
    """Why a finished JSONL / JSON / safetensors file is broken (one line), or None: a JSONL file's last line
    must parse (a torn write), a JSON file must parse, a safetensors header must parse. Other files pass."""
    try:
        if path.suffix == ".jsonl":
            line = _last_line(path)
            if line.strip():
                json.loads(line)
        elif path.suffix == ".json":
            json.loads(path.read_bytes())
        elif path.suffix == ".safetensors":
            return safetensors_problem(path)
    except (ValueError, UnicodeDecodeError) as e:
        what = "not valid JSON" if path.suffix == ".json" else "last line is not JSON"
        return f"{what} ({_one_line(e)})"
    except OSError as e:
        return f"cannot read ({_one_line(e)})"
    return None


def artefact_problem(paths: Iterable[Path]) -> str | None:
    """'PATH: what is wrong' for the first broken artefact among a finished stage's outputs and done file,
    or None: a file by `file_problem`; a directory by the safetensors headers below it (a model, e.g.
    final/; checkpoint-*/ left out). The other files in an output directory are not read: some belong to
    later stages (OUT/world/trajectories.jsonl is collect's)."""
    seen: set[Path] = set()
    for path in paths:
        path = Path(path)
        if path in seen or not path.exists():
            continue
        seen.add(path)
        if path.is_dir():
            bad = corrupt_safetensors(path)
            if bad is not None:
                return f"{bad[0]}: corrupt or truncated ({bad[1]})"
        else:
            problem = file_problem(path)
            if problem is not None:
                return f"{path}: {problem}"
    return None
