"""Cheap fingerprints of what a stage reads (the fingerprint functions themselves are `driftalign.hashing`).

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

Artefacts of earlier stages are checked, not hashed: `data.integrity.artefact_problem` is what the runner asks
before it calls a finished stage up to date (every *.safetensors header below its output directories parses;
an output or done file that is JSONL has a last line that parses, JSON parses); a problem reruns the stage
that produced it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from driftalign.hashing import directory_fingerprint, file_fingerprint, listing_fingerprint

DATASET_FILES = ("studies.jsonl", "trajectories.jsonl")
IMAGES_DIR = "images"
# keys of a stage config that name a path it reads (besides any absolute path); outputs are left out
PATH_KEYS = {"data", "model", "consensus", "subset", "classifier", "classifier_tokenizer", "tokenizer", "base",
             "texts", "eval_texts", "pred", "file", "input", "compare", "image_root", "source"}
OUTPUT_KEYS = {"out", "json", "reference_cache", "store"}


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
