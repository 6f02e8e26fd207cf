"""Chaos test (issue 21): SIGKILL `driftalign run` at seeded random moments, rerun until it completes, and
compare with an uninterrupted run of the same pipeline.

The pipeline has every kind of stage (world, collect over HTTP, drift, init-student, SPD, consensus, APO, the
report classifier, ddsample, GRPO/DiTPO on the ddsample subset with gradient token weights, generate + eval of
each student), at toy size (~20 s of work). `driftalign run` runs as a subprocess in its own session, so a kill
(`os.killpg`, SIGKILL) takes the whole process group, as a Ctrl-\\ or an OOM killer would. A kill schedule is
a seeded list of moments: "stage S has been running for d seconds" (d random; the kill may land in a later stage)
or "file F exists" (a checkpoint being saved, final/ being written, a partial file growing ...).

After the last rerun: every output equals the uninterrupted run's (predictions and eval JSON byte for byte,
the trained models tensor for tensor, the synthetic world, trajectories, consensus, ddsample samples and subset);
no JSONL holds a row twice (trajectories, consensus, samples, predictions, reference cache, trainer logs); no
temporary file or directory is left (.saving, *.tmp, *.partial, .incomplete-*); one more run finds every stage
up to date.

    pytest -m slow tests/test_chaos.py -s      # prints each schedule's kills; ~3-4 min per schedule on 2 cores
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

PIPELINE = """\
out: {out}
world: {{studies: 30, image_size: 32, seed: 0}}
teachers: {{simulated: true}}
drift: {{split: test, plots: false}}
student: {{preset: tiny, pretrain_vision: false, seed: 0}}
spd: {{lora: false, freeze_vision: true, lr: 5.0e-3, batch_size: 4, max_steps: 6, save_steps: 2, logging_steps: 1,
       seed: 0}}
consensus: {{strategy: vote}}
apo:
  apo-uniform: {{weights: uniform, lora: false, freeze_vision: true, lr: 1.0e-3, batch_size: 2, max_steps: 4,
                 save_steps: 2, logging_steps: 1, max_studies: 8, seed: 0}}
classifier: {{max_steps: 4, max_length: 32}}
ddsample: {{from: spd, k: 2, fraction: 0.5, max_new_tokens: 8, batch_size: 4}}
grpo:
  deer: {{from: spd, subset: ddsample, token_weights: gradient, num_generations: 2, batch_size: 2, max_steps: 4,
          switch_step: 2, save_steps: 2, max_new_tokens: 8, lr: 1.0e-3, lora: false, freeze_vision: true,
          logging_steps: 1}}
eval: {{split: test, max_new_tokens: 8, batch_size: 2, bootstrap: 100}}
report: false
"""

STUDENTS = ("spd", "apo-uniform", "deer")
STAGES = ("world", "collect", "drift", "student", "spd", "consensus", "apo-uniform", "classifier", "ddsample", "deer",
          *(f"eval-{s}" for s in STUDENTS))
# files that exist only while a stage is in the middle of something: kill the moment one appears
WINDOWS = {
    "world": [".world.tmp"],
    "collect": ["teacher_requests.jsonl"],            # the simulated teachers log each request: mid-collection
    "drift": [".drift.tmp"],
    "student": [".student.tmp"],
    "spd": ["spd/.saving", "spd/.final.tmp"],
    "consensus": ["consensus/vote.jsonl.partial"],
    "apo-uniform": ["apo-reference-cache/*.partial", "apo-uniform/.saving", "apo-uniform/.final.tmp"],
    "classifier": ["classifier/.final.tmp"],
    "ddsample": ["ddsample/samples.jsonl"],
    "deer": ["deer/.saving", "deer/.final.tmp"],
    **{f"eval-{s}": [f"preds/{s}.jsonl"] for s in STUDENTS},
}
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
       "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
LEFTOVER = (".saving", ".tmp", ".partial", ".incomplete-")


def _pipeline(root: Path, name: str) -> tuple[Path, Path]:
    out = root / name
    path = root / f"{name}.yaml"
    path.write_text(PIPELINE.format(out=out))
    return path, out


def _start(pipeline: Path, log: Path) -> subprocess.Popen:
    with log.open("a") as f:
        f.write(f"\n===== run {time.strftime('%X')}\n")
    return subprocess.Popen([sys.executable, "-m", "driftalign", "run", str(pipeline)], env=ENV,
                            stdout=log.open("a"), stderr=subprocess.STDOUT, start_new_session=True)


def _kill(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)   # the whole process group: the run and any worker it started
    proc.wait()


def _state(out: Path, stage: str) -> tuple[int | None, str | None]:
    """(mtime in ns, status) of a stage's state file (the runner rewrites it at every change of status)."""
    path = out / ".driftalign" / "stages" / f"{stage}.json"
    try:
        return path.stat().st_mtime_ns, json.loads(path.read_text())["status"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return None, None


def _running_stage(out: Path) -> str | None:
    running = [s for s in STAGES if _state(out, s)[1] == "running"]
    return running[-1] if running else None


def _schedule(seed: int) -> list[tuple[str, str, float | str]]:
    """Seeded kill moments, in pipeline order: (stage, "after", seconds) or (stage, "file", pattern)."""
    rng = random.Random(seed)
    events: list[tuple[str, str, float | str]] = []
    writing_final = STUDENTS[seed % len(STUDENTS)]   # each schedule kills a trainer while its final/ is written
    for stage in STAGES:
        if stage == writing_final:
            events.append((stage, "file", f"{stage}/.final.tmp"))
        elif rng.random() < 0.25:
            continue
        elif stage in WINDOWS and rng.random() < 0.5:
            events.append((stage, "file", rng.choice(WINDOWS[stage])))
        else:
            events.append((stage, "after", round(rng.uniform(0.0, 3.0), 2)))
    return events


def _moment(out: Path, event: tuple[str, str, float | str], started_ns: int, now: float,
            first_seen: dict[str, float]) -> str:
    """"kill", "wait" or "pass" (the moment cannot come in this process: the stage finished before)."""
    stage, kind, arg = event
    mtime, status = _state(out, stage)
    ran_here = mtime is not None and mtime > started_ns          # (re)started by this process
    if not ran_here:
        return "pass" if status == "done" else "wait"
    if kind == "after":
        first_seen.setdefault(stage, now)
        return "kill" if now - first_seen[stage] >= float(arg) else "wait"
    if status == "done":
        return "pass"                                              # the window was missed
    fresh = []
    for path in out.glob(str(arg)):
        try:
            fresh.append(path.stat().st_mtime_ns >= mtime)          # written by the running stage, not a leftover
        except FileNotFoundError:
            pass
    return "kill" if any(fresh) else "wait"


def _run_with_kills(pipeline: Path, out: Path, events: list, log: Path, limit_s: float = 1500) -> list[dict]:
    """Run the pipeline, killing it at each event's moment and starting it again, until a run completes."""
    kills: list[dict] = []
    proc: subprocess.Popen | None = None
    t_end = time.monotonic() + limit_s
    pending = list(events)
    while True:
        if proc is None:
            started_ns, first_seen = time.time_ns(), {}
            proc = _start(pipeline, log)
        if not pending:
            assert proc.wait(timeout=max(1.0, t_end - time.monotonic())) == 0, log.read_text()[-4000:]
            return kills
        action = "wait"
        while action == "wait":
            assert time.monotonic() < t_end, f"chaos run over {limit_s} s"
            if proc.poll() is not None:      # completed (or failed) before the moment came
                assert proc.returncode == 0, log.read_text()[-4000:]
                return kills
            action = _moment(out, pending[0], started_ns, time.monotonic(), first_seen)
            if action == "wait":
                time.sleep(0.005)
        stage, kind, arg = pending.pop(0)
        if action == "kill":
            at = _running_stage(out)
            _kill(proc)
            kills.append({"event": f"{stage} {kind} {arg}", "killed_in": at})
            proc = None


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _leftovers(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in out.rglob("*")
                  if p.name == ".saving" or p.name.endswith((".tmp", ".partial")) or p.name.startswith(".incomplete-"))


def _duplicates(out: Path) -> dict[str, int]:
    """Rows present more than once, per file (each must be 0)."""
    keyed = {"world/trajectories.jsonl": ("study_id", "teacher"), "consensus/vote.jsonl": ("study_id",),
             "ddsample/samples.jsonl": ("study_id", "sample"), "ddsample/diversity.jsonl": ("study_id",),
             "ddsample/subset.jsonl": ("study_id",),
             **{f"preds/{s}.jsonl": ("study_id", "sample") for s in STUDENTS}}
    found = {}
    for name, key in keyed.items():
        counts = Counter(tuple(row.get(k) for k in key) for row in _rows(out / name))
        found[name] = sum(n - 1 for n in counts.values())
    for path in (out / "apo-reference-cache").glob("*.jsonl"):
        found[str(path.relative_to(out))] = len(_rows(path)) - len({r["study_id"] for r in _rows(path)})
    for student in STUDENTS:                       # each step logged once, then one end-of-training summary
        logged = _rows(out / student / "trainer_log.jsonl")
        steps = [r["step"] for r in logged if "train_runtime" not in r]
        summaries = [r for r in logged if "train_runtime" in r]
        found[f"{student}/trainer_log.jsonl"] = (len(steps) - len(set(steps)) + (steps != sorted(steps))
                                                 + abs(len(summaries) - 1))
    return found


def _tensors(path: Path) -> dict:
    from safetensors.torch import load_file

    tensors: dict = {}
    for f in sorted(path.glob("*.safetensors")):
        tensors.update(load_file(f))
    assert tensors, path
    return tensors


VOLATILE = {"collected_at", "latency_s",   # a teacher answer's wall-clock time and latency (trajectory meta)
            "cache_key",                     # consensus: covers the dataset files' fingerprints (mtimes)
            "timings_s",                     # drift: seconds per phase
            "seconds", "seconds_per_step"}   # classifier: training time


def _document(path: Path, out: Path):
    """A JSON / JSONL file as data, OUT written as $OUT and wall-clock values dropped (`VOLATILE`)."""
    def clean(x):
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items() if k not in VOLATILE}
        return [clean(v) for v in x] if isinstance(x, list) else x

    text = path.read_text().replace(str(out), "$OUT")
    if path.suffix == ".jsonl":
        return [clean(json.loads(line)) for line in text.splitlines() if line.strip()]
    return clean(json.loads(text))


def _trainer_log(path: Path) -> list[dict]:
    """The logged steps without wall-clock values; the end summary without `train_loss`, which transformers
    averages over the steps of the last `train()` call only (after a resume: the resumed steps)."""
    timing = {"step_time", "train_runtime", "train_samples_per_second", "train_steps_per_second"}
    rows = _rows(path)
    return [{k: v for k, v in row.items() if k not in timing and not ("train_runtime" in row and k == "train_loss")}
            for row in rows]


def _differences(a: Path, b: Path) -> list[str]:
    """What differs between two run directories of the same pipeline (empty: equal)."""
    import torch

    same_bytes = ["world/studies.jsonl", "ddsample/samples.jsonl", "ddsample/subset.jsonl", "ddsample/diversity.jsonl",
                  *(f"preds/{s}.jsonl" for s in STUDENTS), *(f"eval/{s}.json" for s in STUDENTS)]
    differ = [name for name in same_bytes if (a / name).read_bytes() != (b / name).read_bytes()]
    same_data = ["world/trajectories.jsonl", "consensus/vote.jsonl", "drift/drift.json", "classifier/metrics.json"]
    differ += [name for name in same_data if _document(a / name, a) != _document(b / name, b)]
    for student in STUDENTS:       # every step logged with the same numbers (loss, grad norm, rewards, entropy ...)
        la, lb = (_trainer_log(x / student / "trainer_log.jsonl") for x in (a, b))
        if la != lb:
            differ.append(f"{student}/trainer_log.jsonl")
    for model in ("student", *(f"{s}/final" for s in STUDENTS), "classifier/final"):
        ta, tb = _tensors(a / model), _tensors(b / model)
        if ta.keys() != tb.keys() or not all(torch.equal(ta[k], tb[k]) for k in ta):
            differ.append(f"{model} weights")
    return differ


@pytest.fixture(scope="module")
def straight(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("chaos")
    pipeline, out = _pipeline(root, "straight")
    t0 = time.monotonic()
    assert _run_with_kills(pipeline, out, [], root / "straight.log") == []
    print(f"\nuninterrupted run: {time.monotonic() - t0:.0f} s")
    return out


@pytest.mark.slow
@pytest.mark.timeout(2400)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_pipeline_killed_at_random_moments_ends_as_an_uninterrupted_run(straight: Path, tmp_path: Path,
                                                                         seed: int) -> None:
    pipeline, out = _pipeline(tmp_path, "chaos")
    log = tmp_path / "chaos.log"
    events = _schedule(seed)
    t0 = time.monotonic()
    kills = _run_with_kills(pipeline, out, events, log)
    print(f"\nschedule {seed}: {len(kills)} kills in {time.monotonic() - t0:.0f} s, {len(kills) + 1} runs")
    for kill in kills:
        print(f"  {kill['event']:<45} -> killed while {kill['killed_in']} ran")
    assert len(kills) >= len(events) // 2, kills      # the schedule really interrupted the pipeline
    assert _leftovers(out) == []
    assert {name: n for name, n in _duplicates(out).items() if n} == {}
    assert _differences(straight, out) == []
    again = subprocess.run([sys.executable, "-m", "driftalign", "run", str(pipeline)], env=ENV, capture_output=True,
                           text=True, timeout=600)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert again.stdout.count("up to date") == len(STAGES), again.stdout[-3000:]
