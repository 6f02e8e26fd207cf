"""One run of a pipeline (no `seeds` list): run the planned stages in order, each only when it has to.

`driftalign run PIPELINE.yaml` is `driftalign.pipeline.run_pipeline`: this module's `run_single`, or with
`seeds` `experiment.run_experiment`, which calls `run_single` once per seed.

For every stage the runner computes a content hash (`stages.stage_hash`: its resolved config with
paths relative to OUT, the hashes of the stages it reads, and the fingerprints of the user files
outside OUT it reads, `fingerprint`) and keeps a state file
OUT/.driftalign/stages/NAME.json = {hash, status running|done, seconds}:

    state done, same hash, output present     -> skipped ("up to date"), unless an output is corrupt
                                                 (`data.integrity.artefact_problem`: one notice, rerun)
    state running, same hash, resumable stage -> run again in place: the stage resumes itself
                                                 (trainers from their last checkpoint, collect and
                                                 generate from the rows they already have)
    state running, same hash, not resumable,  -> done: it finished and was killed before its state
      its `done` path present                    was written (recorded as done, not rerun)
    anything else (new, changed, not resumable) -> its outputs are removed, it runs afresh

A stage's `done` path exists only once the stage is complete: every stage output directory is
written under a temporary name and renamed when complete (`data.io.atomic_directory`: world/,
student/, drift/, final/, adapter/, classifier/final/), every file through `data.io.atomic_write`,
and where a stage writes several outputs, `done` is the last one. Before any stage runs, what
killed writers left under OUT (`.NAME.tmp` directories, `.NAME.XXXXXXXX.tmp` files) is deleted
(`data.io.remove_leftovers`); checkpoint saves a kill interrupted (`.saving/`) are deleted by the
trainer that resumes (`training.checkpoints`).

Changing one value of one section therefore reruns that stage and every stage after it that reads
its output, and nothing else. A code change does not change a hash: rerun a stage by deleting its
state file (or its output). One run per OUT at a time (a lock file). The summary (the students'
table and the verdicts) and the HTML report are rebuilt at the end of every run.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console

from driftalign.config import save_config
from driftalign.console import table_console
from driftalign.data.integrity import artefact_problem
from driftalign.data.io import remove_leftovers, write_json
from driftalign.errors import ConfigError
from driftalign.pipeline.config import PipelineConfig
from driftalign.pipeline.stages import Stage, plan, stage_hash

STATE_DIR = Path(".driftalign")
MARKER = STATE_DIR / "pipeline.json"
LEGACY_MARKER = ".driftalign-demo"     # run directories of the demo before `driftalign run`


def _state_path(out: Path, name: str) -> Path:
    return out / STATE_DIR / "stages" / f"{name}.json"


def read_state(out: Path, name: str) -> dict[str, Any] | None:
    try:
        return json.loads(_state_path(out, name).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _remove(paths: list[Path]) -> None:
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def prepare_out(out: Path) -> None:
    """OUT must be new, empty, or a run directory of the pipeline (never delete a user's files)."""
    if out.exists() and any(out.iterdir()) and not (out / MARKER).exists() and not (out / LEGACY_MARKER).exists():
        raise ConfigError(f"{out} exists and is not a driftalign run directory; choose another `out`")
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / MARKER, {"kind": "driftalign pipeline run"})


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    lock = out / STATE_DIR / "lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"{out}: another `driftalign run` is using this directory") from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def decide(stage: Stage, digest: str, state: dict[str, Any] | None) -> str:
    """"skip", "finished", "resume" or "fresh" for a stage (module docstring)."""
    same = state is not None and state.get("hash") == digest
    if same and state.get("status") == "done" and stage.done.exists():
        return "skip"
    if same and state.get("status") == "running" and stage.resumable:
        return "resume"
    if same and state.get("status") == "running" and stage.done.exists():   # complete, killed before its state
        return "finished"
    return "fresh"


def run_stages(stages: list[Stage], out: Path, console: Console) -> dict[str, Any]:
    """Run (or skip) every stage; returns {name: {"action", "hash", "seconds"}}."""
    hashes: dict[str, str] = {}
    record: dict[str, Any] = {}
    if removed := remove_leftovers(out):
        console.print(f"[dim]- removed {len(removed)} temporary file(s) an interrupted run left "
                      f"({', '.join(str(p.relative_to(out)) for p in removed[:3])}{' ...' if len(removed) > 3 else ''})"
                      "[/dim]", highlight=False, soft_wrap=True)
    for stage in stages:
        digest = hashes[stage.name] = stage_hash(stage, hashes, out)
        action = decide(stage, digest, read_state(out, stage.name))
        if action in ("skip", "finished") and (problem := artefact_problem([*stage.outputs, stage.done])):
            console.print(f"! {stage.title}: {problem}; running it again", style="yellow", markup=False,
                          highlight=False, soft_wrap=True)      # corrupt: redo it
            action = "fresh"
        record[stage.name] = {"action": action, "hash": digest}
        if action == "skip":
            console.print(f"[dim]- {stage.title}: up to date[/dim]")
            continue
        if action == "finished":
            console.print(f"[dim]- {stage.title}: had finished when the last run stopped[/dim]")
            write_json(_state_path(out, stage.name), {"hash": digest, "status": "done", "config": stage.config})
            continue
        if action == "fresh":
            _remove(stage.outputs)
        verb = "resuming" if action == "resume" else "running"
        console.print(f"[bold]▶ {stage.title}[/bold] [dim]({verb})[/dim]")
        write_json(_state_path(out, stage.name), {"hash": digest, "status": "running", "config": stage.config})
        t0 = time.perf_counter()
        stage.run()
        seconds = round(time.perf_counter() - t0, 1)
        write_json(_state_path(out, stage.name), {"hash": digest, "status": "done", "seconds": seconds,
                                                  "config": stage.config})
        record[stage.name]["seconds"] = seconds
        console.print(f"[green]✓ {stage.title}[/green] in {seconds:.1f} s")
    return record


def run_single(cfg: PipelineConfig, console: Console | None = None) -> dict[str, Any]:
    """Plan, run what has to run, summarise; returns the summary (also OUT/summary.json). One run: a pipeline
    with `seeds` runs through `driftalign.pipeline.run_pipeline` (`experiment.run_experiment`)."""
    from driftalign.pipeline.summary import print_summary, summarize

    if cfg.seeds:
        raise ValueError(f"{cfg.source}: has seeds {cfg.seeds}; run it with driftalign.pipeline.run_pipeline")
    console = console or table_console()
    stages = plan(cfg)                      # every stage config validated before anything runs
    out = cfg.out.resolve()
    prepare_out(out)
    with _locked(out):
        save_config(cfg, out, "pipeline.yaml")
        record = run_stages(stages, out, console)
        summary = summarize(cfg, stages, out, record)
        write_json(out / "summary.json", summary)
        report = None
        if cfg.report:
            report = _report(out, console)
        print_summary(summary, console)
        if report is not None:
            console.print(f"report: {report}", soft_wrap=True, highlight=False)
    return summary




def _report(out: Path, console: Console) -> Path:
    from driftalign.report import build_report

    return build_report(out)
