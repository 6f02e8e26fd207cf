"""Trainer checkpoints that survive a kill: they appear only when complete, and resume skips broken ones.

* `AtomicCheckpoints` (a mixin of our three trainers, before the Trainer class in the bases) has
  transformers write `checkpoint-N/` into `OUT/.saving/checkpoint-N/`, then fsyncs it and renames
  it to `OUT/checkpoint-N` (one rename in the same directory: atomic), and only then applies the
  Trainer's rotation (`save_total_limit`). A kill while saving leaves the staging directory,
  which neither `get_last_checkpoint` nor the rotation ever sees.
* `select_checkpoint(out)` picks the newest `checkpoint-N` that is complete (`checkpoint_problem`:
  trainer_state.json parses; model or adapter weights present, safetensors headers readable;
  optimizer.pt / scheduler.pt / rng_state*.pth present as whole zip archives, or a DeepSpeed /
  FSDP engine checkpoint) and moves every newer incomplete one aside to
  `OUT/.incomplete-checkpoint-N` with one notice line each on stderr (such a directory was once
  published as a checkpoint: it is kept, not deleted), so a run killed while its checkpoint was
  written (checkpoints made before this module, or a disk that lost data) resumes from the previous
  one instead of failing at every rerun. A staging leftover (`OUT/.saving/checkpoint-N`: a save a
  kill interrupted, never a checkpoint) is deleted, with one notice line: repeated kills of a large
  model must not pile up partial copies of it.

Why an override of `Trainer._save_checkpoint` and not a callback: `on_save` runs after the
checkpoint is written and the rotation has already deleted older ones, so no callback can make
the directory appear atomically. The override changes only where the Trainer writes
(`_get_output_dir` returns the staging directory for the duration of the save) and calls the
Trainer's own `_save_checkpoint` for everything it saves (TRL's GRPO extras included).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sys
import zipfile
from pathlib import Path

from driftalign.data.integrity import safetensors_problem
from driftalign.data.io import publish_directory

CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")   # transformers' PREFIX_CHECKPOINT_DIR + "-" + step
STAGING_DIR = ".saving"                             # OUT/.saving/checkpoint-N while the Trainer writes it
INCOMPLETE_PREFIX = ".incomplete-"                  # OUT/.incomplete-checkpoint-N: moved aside, never deleted


def _safetensors_problem(path: Path) -> str | None:
    problem = safetensors_problem(path)
    return None if problem is None else f"{path.name} unreadable: {problem}"


def _zip_problem(path: Path) -> str | None:
    """torch.save files are zip archives: a truncated one has no central directory (cheap to check)."""
    try:
        with zipfile.ZipFile(path):
            return None
    except (OSError, zipfile.BadZipFile):
        return f"{path.name} truncated"


def _weights_problem(ckpt: Path) -> str | None:
    index = ckpt / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return f"{index.name} unreadable"
        for shard in shards:
            if not (ckpt / shard).is_file():
                return f"no {shard}"
            if problem := _safetensors_problem(ckpt / shard):
                return problem
        return None
    for name in ("model.safetensors", "adapter_model.safetensors"):
        if (ckpt / name).is_file():
            return _safetensors_problem(ckpt / name)
    for name in ("pytorch_model.bin", "adapter_model.bin"):
        if (ckpt / name).is_file():
            return _zip_problem(ckpt / name)
    if _engine_checkpoint(ckpt):
        return None
    return "no model weights"


def _engine_checkpoint(ckpt: Path) -> bool:
    """A DeepSpeed (`latest` naming its tag directory) or FSDP (`pytorch_model_fsdp*`) checkpoint: the engine
    holds the weights and optimizer (checked by its own loader, not here)."""
    latest = ckpt / "latest"
    if latest.is_file():
        try:
            return (ckpt / latest.read_text(encoding="utf-8").strip()).is_dir()
        except OSError:
            return False
    return any(p.name.startswith("pytorch_model_fsdp") for p in ckpt.iterdir())


def checkpoint_problem(ckpt: Path) -> str | None:
    """Why the Trainer could not resume from `ckpt` (a short phrase), or None when it is complete."""
    state = ckpt / "trainer_state.json"
    if not state.is_file():
        return "no trainer_state.json"
    try:
        json.loads(state.read_text(encoding="utf-8"))["global_step"]
    except (OSError, ValueError, KeyError, TypeError):
        return "trainer_state.json unreadable"
    if problem := _weights_problem(ckpt):
        return problem
    engine = _engine_checkpoint(ckpt)
    for name in ("optimizer.pt", "scheduler.pt"):
        if (ckpt / name).is_file():
            if problem := _zip_problem(ckpt / name):
                return problem
        elif not engine:
            return f"no {name}"
    for rng in sorted(ckpt.glob("rng_state*.pth")):
        if problem := _zip_problem(rng):
            return problem
    return None


def _is_main_process() -> bool:
    """Rank 0 of a torchrun / accelerate launch (every rank selects; only rank 0 moves and prints)."""
    return os.environ.get("RANK", "0") == "0"


def _move_aside(path: Path, out: Path) -> Path | None:
    """Rename `path` to OUT/.incomplete-<name> (a free name: .1, .2 ... appended); None if it vanished."""
    target = out / f"{INCOMPLETE_PREFIX}{path.name}"
    n = 0
    while target.exists():
        n += 1
        target = out / f"{INCOMPLETE_PREFIX}{path.name}.{n}"
    try:
        os.rename(path, target)
    except FileNotFoundError:   # another process moved it first
        return None
    return target


def _checkpoints(out: Path) -> list[tuple[int, Path]]:
    """(step, path) of OUT/checkpoint-N directories, newest first (get_last_checkpoint's order)."""
    found = [(int(m.group(1)), p) for p in out.iterdir() if (m := CHECKPOINT_RE.match(p.name)) and p.is_dir()]
    return sorted(found, reverse=True)


def select_checkpoint(out: Path, resume: bool = True) -> Path | None:
    """The newest complete OUT/checkpoint-N (None: start afresh); newer incomplete ones are moved aside to
    OUT/.incomplete-* and staging leftovers deleted, with one notice line each (module docstring). `resume`
    False: only the staging leftovers are deleted (a fresh run saves into the staging directory again), None."""
    if not out.is_dir():
        return None
    chosen, incomplete = None, []
    for _, ckpt in _checkpoints(out) if resume else []:
        problem = checkpoint_problem(ckpt)
        if problem is None:
            chosen = ckpt
            break
        incomplete.append((ckpt, problem))
    staging = out / STAGING_DIR
    if _is_main_process():
        then = "starting afresh" if chosen is None else f"resuming from {chosen.name}"
        then = then if resume else "starting afresh (--no-resume)"
        for ckpt, problem in incomplete:
            moved = _move_aside(ckpt, out)
            if moved is not None:
                print(f"note: {ckpt} is incomplete ({problem}), moved aside to {moved.name}; {then}",
                      file=sys.stderr, flush=True)
        if staging.is_dir():
            for partial in sorted(staging.iterdir()):   # a save a kill interrupted: never a checkpoint, only debris
                if partial.is_dir():
                    shutil.rmtree(partial, ignore_errors=True)
                else:
                    partial.unlink(missing_ok=True)
                print(f"note: {partial} was interrupted while saving, removed; {then}", file=sys.stderr,
                      flush=True)
            with contextlib.suppress(OSError):
                staging.rmdir()
    return chosen


def publish(staged: Path, target: Path) -> None:
    """fsync `staged` and rename it to `target` (`data.io.publish_directory`), then remove the staging directory
    when empty. An existing `target` (a --no-resume rerun reaching a step an earlier run saved) is replaced: the
    Trainer would have overwritten it in place."""
    publish_directory(staged, target)
    try:
        staged.parent.rmdir()   # the staging directory, when empty
    except OSError:
        pass


class AtomicCheckpoints:
    """Trainer mixin (`class SPDTrainer(AtomicCheckpoints, Trainer)`): checkpoint-N appears only when complete,
    and a run resumed from its last step's checkpoint trains no further step."""

    _staging_dir: str | None = None

    def _get_output_dir(self, trial) -> str:
        if self._staging_dir is not None:
            return self._staging_dir
        return super()._get_output_dir(trial)

    def _run_epoch(self, *args, **kwargs):
        """Train nothing when resumed from the checkpoint of the last step (a run killed while writing final/):
        transformers' epoch loop runs one optimizer step before it checks `max_steps`, so the resumed run would
        end one step past an uninterrupted one, with other weights."""
        if 0 < self.state.max_steps <= self.state.global_step:
            self.control.should_training_stop = True
            return None
        return super()._run_epoch(*args, **kwargs)

    def _save_checkpoint(self, model, trial) -> None:
        from transformers.trainer_utils import rotate_checkpoints

        run_dir = super()._get_output_dir(trial)
        name = f"checkpoint-{self.state.global_step}"
        self._staging_dir = os.path.join(run_dir, STAGING_DIR)
        try:
            super()._save_checkpoint(model, trial)   # everything the Trainer saves, into OUT/.saving/checkpoint-N
        finally:
            self._staging_dir = None
        self.accelerator.wait_for_everyone()        # every rank has written its part (rng states, shards)
        if self.args.should_save:
            publish(Path(run_dir) / STAGING_DIR / name, Path(run_dir) / name)
            rotate_checkpoints(output_dir=run_dir, save_total_limit=self.args.save_total_limit,
                               best_model_checkpoint=self.state.best_model_checkpoint, use_mtime=True)
