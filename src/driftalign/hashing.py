"""The hashes every cache key and stage hash is built from, in one module (no driftalign import, no torch).

Two kinds, named apart:

* digests read every byte: `file_digest`, `files_digest`, `model_digest` (a model directory's weight,
  config and tokenizer files), `text_digest`, and `json_hash` (sha256 of a JSON-able key: the consensus
  `cache_key` and `generation_key`, APO's `reference_cache_key`, the embedding cache's model address, a
  teacher request's `prompt_hash`);
* fingerprints are cheap, for the pipeline's stage hashes (`pipeline.fingerprint.input_fingerprints`):
  `file_fingerprint` (size + mtime_ns + both ends of a file), `listing_fingerprint` (names, sizes and
  mtimes below a directory, no content read), `directory_fingerprint` (`file_fingerprint` of every file).

Changing any function here changes keys that runs have already written: caches miss, stages rerun.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

# ---- digests (every byte read) -------------------------------------------------------------------------------

MODEL_FILE_SUFFIXES = (".safetensors", ".bin", ".json", ".jinja", ".model", ".txt")


def json_hash(obj: Any, default: Callable[[Any], Any] | None = None) -> str:
    """sha256 (hex) of `obj` as JSON with sorted keys; `default`: json.dumps' fallback for other values."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=default).encode()).hexdigest()


def text_digest(text: str) -> str:
    """sha256 (hex) of a text's UTF-8 bytes."""
    return hashlib.sha256(text.encode()).hexdigest()


def file_digest(path: str | Path, h: hashlib._Hash | None = None) -> str:
    """sha256 of a file's bytes (streamed)."""
    h = h or hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def files_digest(paths: Iterable[str | Path]) -> str:
    """sha256 over the contents of several files, in the given order."""
    h = hashlib.sha256()
    for p in paths:
        h.update(file_digest(p).encode())
    return h.hexdigest()


def model_digest(root: str | Path, suffixes: Sequence[str] = MODEL_FILE_SUFFIXES) -> str:
    """sha256 over (relative name, content digest) of a model directory's weight/config/tokenizer files
    (checkpoint-*/ left out)."""
    root = Path(root)
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix in suffixes and "checkpoint-" not in str(p.relative_to(root)):
            h.update(str(p.relative_to(root)).encode())
            h.update(file_digest(p).encode())
    return h.hexdigest()


# ---- fingerprints (cheap: sizes, mtimes, the ends of a file) ---------------------------------------------------

SAMPLE = 64 * 1024                       # bytes hashed at each end of a file


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


def tree_files(root: Path) -> Iterator[Path]:
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
    for p in tree_files(root):
        if p not in skipped:
            h.update(f"{p.relative_to(root)}\0{file_fingerprint(p)}\n".encode())
    return h.hexdigest()[:16]
