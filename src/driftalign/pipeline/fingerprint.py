"""Cheap fingerprints of what a stage reads, and integrity checks of what a finished stage wrote.

A stage's hash (`stages.stage_hash`) covers its resolved config, the hashes of the stages it reads and,
from here, `input_fingerprints`: every USER input named in its config, i.e. every path outside OUT
(the paths under OUT are produced by other stages and are covered by their hashes):

* a file: `file_fingerprint` = size + mtime_ns + sha256 of its first and last 64 KiB (a file of at most
  128 KiB: size + sha256 of all of it);
* a dataset directory (it has studies.jsonl): studies.jsonl and trajectories.jsonl as files, and its
  images/ as `listing_fingerprint` (relative name + size + mtime_ns of every file, no contents read);
* any other directory (a model, a tokenizer): `file_fingerprint` of every file below it, checkpoints and
  hidden entries left out.

A file the stage writes itself (its `done` file or an output: `collect` appends to a user dataset's
trajectories.jsonl) is not an input of that stage; the rest of that dataset is. So a user's changed
(truncated, edited; a large one even touched) studies.jsonl changes the hash of every stage that reads
the dataset, and the runner reruns them. A stage whose config names no path cannot be seen reading one:
it depends on the dataset only through the stages in its `after`.

Artefacts of earlier stages are checked, not hashed: `artefact_problem` is what the runner asks before it
calls a finished stage up to date (every *.safetensors header below its output directories parses; an
output or done file that is JSONL has a last line that parses, JSON parses); a problem reruns the stage
that produced it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

SAMPLE = 64 * 1024                       # bytes hashed at each end of a file
DATASET_FILES = ("studies.jsonl", "trajectories.jsonl")
IMAGES_DIR = "images"
# keys of a stage config that name a path it reads (besides any absolute path); outputs are left out
PATH_KEYS = {"data", "model", "consensus", "subset", "classifier", "classifier_tokenizer", "tokenizer", "base",
             "texts", "eval_texts", "pred", "file", "input", "compare", "image_root", "source"}
OUTPUT_KEYS = {"out", "json", "reference_cache", "store"}


def file_fingerprint(path: str | Path) -> str | None:
    """size + mtime_ns + sha256 of the first and last 64 KiB of a file; None if absent. A file of at most
    128 KiB is hashed whole and its mtime left out (a copy or a `touch` of a teachers.yaml reruns nothing)."""
    path = Path(path)
    try:
        st = path.stat()
        small = st.st_size <= 2 * SAMPLE
        h = hashlib.sha256(f"{st.st_size}:{'' if small else st.st_mtime_ns}:".encode())
        with path.open("rb") as f:
            h.update(f.read(SAMPLE))
            if not small:
                f.seek(st.st_size - SAMPLE)
            h.update(f.read(SAMPLE))
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    return h.hexdigest()[:16]


def _files(root: Path) -> Iterator[Path]:
    """The files below `root`, sorted; hidden entries and checkpoint-*/ directories left out."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and not d.startswith("checkpoint-"))
        for name in sorted(filenames):
            if not name.startswith("."):
                yield Path(dirpath) / name


def listing_fingerprint(root: str | Path) -> str | None:
    """sha256 over (relative name, size, mtime_ns) of every file below a directory (no contents read)."""
    root = Path(root)
    if not root.is_dir():
        return None
    h = hashlib.sha256()
    start = len(str(root)) + 1
    for dirpath, dirnames, filenames in os.walk(root):      # strings, not Paths: ~1 s per 100,000 files
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                path = os.path.join(dirpath, name)
                st = os.stat(path)
                h.update(f"{path[start:]}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def directory_fingerprint(root: str | Path, skip: Iterable[Path] = ()) -> str | None:
    """sha256 over (relative name, `file_fingerprint`) of every file below a directory; `skip`: files left out."""
    root, skipped = Path(root), set(skip)
    if not root.is_dir():
        return None
    h = hashlib.sha256()
    for p in _files(root):
        if p not in skipped:
            h.update(f"{p.relative_to(root)}\0{file_fingerprint(p)}\n".encode())
    return h.hexdigest()[:16]


def path_fingerprint(path: Path, own: Iterable[Path] = ()) -> Any:
    """The fingerprint of one input path (module docstring); `own`: what the reading stage writes itself."""
    own = {Path(p) for p in own}
    if path.is_file():
        return file_fingerprint(path)
    if not path.is_dir():
        return "missing"
    if (path / "studies.jsonl").is_file():                          # a dataset directory
        parts: dict[str, Any] = {name: file_fingerprint(path / name) for name in DATASET_FILES
                                 if path / name not in own}
        parts[IMAGES_DIR] = listing_fingerprint(path / IMAGES_DIR)
        return parts
    return directory_fingerprint(path, skip=own)


def _paths(config: Any, key: str | None = None) -> Iterator[str]:
    if isinstance(config, dict):
        for k, v in config.items():
            if k not in OUTPUT_KEYS:
                yield from _paths(v, k)
    elif isinstance(config, list):
        for v in config:
            yield from _paths(v, key)
    elif isinstance(config, str) and config and (key in PATH_KEYS or os.path.isabs(config)):
        yield config


def _within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def input_fingerprints(config: dict[str, Any], out: Path, own: Iterable[Path] = ()) -> dict[str, Any]:
    """{path: fingerprint} of every path a stage config names outside OUT (its user inputs); `own`: the
    stage's outputs and done file, which are not its inputs. Relative paths are relative to the current
    directory, as for every flag."""
    out = Path(out).resolve()
    own = [Path(p).resolve() for p in own]
    values = list(_paths(config))
    # a stage that writes into a user's dataset (collect: its trajectories.jsonl) reads the rest of it
    values += [str(p.parent) for p in own if not _within(p, out) and (p.parent / "studies.jsonl").is_file()]
    found: dict[str, Any] = {}
    for value in values:
        path = Path(value).expanduser().resolve()
        if _within(path, out) or str(path) in found or any(_within(path, o) for o in own):
            continue
        found[str(path)] = path_fingerprint(path, own)
    return dict(sorted(found.items()))


# ---- integrity of what a finished stage wrote ---------------------------------------------------------------


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
    files = [root] if root.is_file() else [p for p in _files(root) if p.suffix == ".safetensors"]
    for p in files:
        problem = safetensors_problem(p)
        if problem is not None:
            return p, problem
    return None


def _last_line(path: Path) -> bytes:
    with path.open("rb") as f:
        size = f.seek(0, os.SEEK_END)
        block = min(size, SAMPLE)
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
