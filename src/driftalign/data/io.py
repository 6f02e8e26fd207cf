"""Line-numbered JSONL reading and atomic writing.

Every writer in driftalign goes through `atomic_write` (a file) or `atomic_directory` (a directory:
a model, a world, a stage's output directory): it appears complete or not at all, so a killed run
never leaves half a file or half a model that a later stage would read as valid. Both write under a
temporary name next to the target (`.NAME.XXXXXXXX.tmp`, `.NAME.tmp`), fsync and rename; what a
SIGKILL leaves behind is matched by `is_leftover` and removed by the next writer of the same target
(`atomic_directory`) or by `driftalign run` (`remove_leftovers`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from driftalign.errors import DISK_FULL, DatasetError


def read_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line_number, object) for each non-blank line; malformed JSON names file and line."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    with path.open("r", encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise DatasetError(f"{path}:{lineno}: malformed JSON ({json_error(e)})") from None
            if not isinstance(obj, dict):
                raise DatasetError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
            yield lineno, obj


def json_error(e: json.JSONDecodeError) -> str:
    """What is wrong and where on the line: "Expecting value at column 5"; some of json's messages end in
    "at" already ("Unterminated string starting at")."""
    return f"{e.msg.removesuffix(' at')} at column {e.colno}"


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file next to `path`; on success fsync and rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError) and e.errno in DISK_FULL and e.filename in (None, tmp):
            e.filename = str(path)     # a full disk names the file being written, not its temporary name
        raise


def open_appending(path: str | Path, resume: bool = True) -> IO[str]:
    """Open a JSONL file that grows one line per item (a resumable run's partial file) for appending (`resume`)
    or afresh. A line a kill cut short is ended first, so the next row starts on a line of its own: readers
    skip the cut line, instead of losing the next row glued to it."""
    path = Path(path)
    if resume and path.is_file() and path.stat().st_size:
        with path.open("rb") as f:
            f.seek(-1, os.SEEK_END)
            cut = f.read(1) != b"\n"
        if cut:
            with path.open("a", encoding="utf-8") as f:
                f.write("\n")
    return path.open("a" if resume else "w", encoding="utf-8")


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write rows as JSONL atomically; returns the number of rows written."""
    n = 0
    with atomic_write(path) as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def write_json(path: str | Path, obj: Any) -> None:
    """Write one JSON document atomically (indented, for humans and scripts alike)."""
    with atomic_write(path) as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")


# ---- directories ------------------------------------------------------------------------------------------

TMP_SUFFIX = ".tmp"   # every temporary name of this module ends so, and starts with "."


def staging_path(path: str | Path) -> Path:
    """Where `atomic_directory(path)` writes before the rename: the sibling `.NAME.tmp`."""
    path = Path(path)
    return path.with_name(f".{path.name}{TMP_SUFFIX}")


def _replaced_path(path: Path) -> Path:
    """Where an existing target is moved for the instant of the replacement: `.NAME.old.tmp`."""
    return path.with_name(f".{path.name}.old{TMP_SUFFIX}")


def is_leftover(path: Path) -> bool:
    """A temporary file or directory of `atomic_write` / `atomic_directory` (what a kill leaves behind)."""
    return path.name.startswith(".") and path.name.endswith(TMP_SUFFIX)


def fsync_dir(path: str | Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:   # some filesystems refuse fsync on a directory
        pass
    finally:
        os.close(fd)


def fsync_tree(root: str | Path) -> None:
    """fsync every file under `root`, then every directory (bottom-up): the data is on disk before a rename."""
    for dirpath, _, files in os.walk(root, topdown=False):
        for name in files:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                continue
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(dirpath)


def _rmtree(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def publish_directory(staged: str | Path, target: str | Path) -> None:
    """fsync the complete directory `staged` and rename it to `target` (same filesystem: atomic). An existing
    `target` is replaced: moved aside to `.NAME.old.tmp` for the instant of the rename, then deleted."""
    staged, target = Path(staged), Path(target)
    fsync_tree(staged)
    old = None
    if target.exists() or target.is_symlink():
        old = _replaced_path(target)
        _rmtree(old)
        os.rename(target, old)
    os.rename(staged, target)
    fsync_dir(target.parent)
    if old is not None:
        _rmtree(old)


@contextlib.contextmanager
def atomic_directory(path: str | Path, *, main_process: bool = True,
                     wait: Callable[[], None] | None = None) -> Iterator[Path]:
    """Write a directory that appears at `path` only when complete.

    Yields the empty staging directory `.NAME.tmp` next to `path` (a leftover of a killed writer is
    removed first); when the block ends normally its files are fsynced and it is renamed over `path`
    (an existing `path` is replaced). An exception removes the staging directory and leaves `path`
    as it was. One writer per target at a time (the pipeline holds a lock on its run directory).

    Under DDP every rank enters the block (the Trainer's `save_model` gathers sharded weights and
    writes from the main process; with DeepSpeed every rank may write its part): pass
    `main_process` (only the main process creates, renames and removes) and `wait`, a barrier of all
    ranks (`accelerator.wait_for_everyone`), so that no rank writes before the directory exists and
    the rename waits for every rank.
    """
    path = Path(path)
    staged = staging_path(path)
    barrier = wait or (lambda: None)
    if main_process:
        path.parent.mkdir(parents=True, exist_ok=True)
        _rmtree(staged)
        _rmtree(_replaced_path(path))
        staged.mkdir()
    barrier()
    try:
        yield staged
        barrier()
        if main_process:
            publish_directory(staged, path)
    except BaseException as e:
        if main_process:
            shutil.rmtree(staged, ignore_errors=True)
        if isinstance(e, OSError) and e.errno in DISK_FULL and e.filename is not None \
                and str(e.filename).startswith(str(staged)):
            e.filename = str(path) + str(e.filename)[len(str(staged)):]   # name the file being written
        raise
    barrier()


def remove_leftovers(root: str | Path) -> list[Path]:
    """Delete every temporary file or directory a killed `atomic_write` / `atomic_directory` left under `root`
    (`is_leftover`); returns what was deleted. Only for a tree no other process is writing to."""
    removed: list[Path] = []
    root = Path(root)
    if not root.is_dir():
        return removed
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            if is_leftover(path):
                _rmtree(path)
                removed.append(path)
        dirnames[:] = [d for d in dirnames if not is_leftover(Path(dirpath) / d)]
    return removed
