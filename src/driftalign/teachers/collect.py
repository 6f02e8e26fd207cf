"""`collect`: ask every teacher about every study, resumably, and export trajectories.jsonl.

    collect(dataset_dir, teachers_cfg, out=None, limit=None) -> CollectSummary

1. plan: one `Job` per (study, teacher) with the teacher's final prompt and its content hash;
2. skip every job whose answer is already in the store (`AnswerStore`, keyed by
   (study_id, teacher, prompt_hash)) — a rerun only asks for what is missing or failed;
3. run each teacher's jobs with `max_concurrency` workers through its rate limiter and retry
   policy (`TeacherClient`), committing each answer to the store as it arrives;
4. export the plan's answers to `<out>/trajectories.jsonl` atomically (rows of other teachers or
   studies already in that file are kept) and return per-teacher statistics.

A teacher whose requests cannot succeed (401/403/404, bad URL, unreachable before any success) is
stopped early; `collect` then raises `CollectError` (carrying the summary) after exporting.
"""

from __future__ import annotations

import asyncio
import random
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from driftalign.data.dataset import TRAJECTORIES_FILE, Dataset, load_dataset, read_trajectories, write_studies
from driftalign.data.io import write_json, write_jsonl
from driftalign.data.schema import Study, Trajectory
from driftalign.errors import DatasetError, DriftalignError
from driftalign.teachers.client import ChatResult, RequestFailed, TeacherClient, image_data_url
from driftalign.teachers.config import TeacherSpec, load_teachers
from driftalign.teachers.ratelimit import RateLimiter
from driftalign.teachers.refusal import is_refusal
from driftalign.teachers.store import OK, AnswerStore, Key
from driftalign.teachers.summary import CollectSummary, teacher_stats

STATE_DIR = ".driftalign"
STORE_NAME = "collect.sqlite"
SUMMARY_NAME = "collect_summary.json"


class CollectError(DriftalignError):
    """Some teachers were stopped (auth, unknown model, unreachable). `summary` has the details."""

    def __init__(self, message: str, summary: CollectSummary):
        super().__init__(message)
        self.summary = summary


@dataclass(frozen=True)
class Job:
    study_id: str
    teacher: str
    prompt: str
    prompt_hash: str
    images: tuple[Path, ...]

    @property
    def key(self) -> Key:
        return (self.study_id, self.teacher, self.prompt_hash)


@dataclass
class TeacherState:
    """Mutable per-teacher bookkeeping of one run."""

    successes: int = 0
    aborted: str | None = None
    first_error: str | None = None

    def note_failure(self, spec: TeacherSpec, e: RequestFailed) -> None:
        self.first_error = self.first_error or e.message
        if e.fatal:
            hint = f" (check ${spec.api_key_env})" if e.status in (401, 403) and spec.api_key_env else ""
            self.aborted = f"teacher {spec.name!r}: {e.message}{hint}"
        elif e.unreachable and self.successes == 0:
            self.aborted = f"teacher {spec.name!r}: cannot reach {spec.base_url}: {e.message}"


@dataclass
class RunState:
    per_teacher: dict[str, TeacherState] = field(default_factory=dict)
    new: dict[str, int] = field(default_factory=dict)


def default_store_path(out: Path) -> Path:
    return Path(out) / STATE_DIR / STORE_NAME


def plan_jobs(dataset: Dataset, studies: Sequence[Study], specs: Sequence[TeacherSpec]) -> list[Job]:
    """Study-major order, so every teacher advances through the studies together."""
    jobs = []
    for study in studies:
        images = tuple(dataset.image_paths(study))
        for spec in specs:
            prompt = spec.prompt_for(study)
            jobs.append(Job(study.study_id, spec.name, prompt, spec.prompt_hash(prompt), images))
    return jobs


def answer_meta(spec: TeacherSpec, job: Job, result: ChatResult) -> dict:
    """The trajectory's meta: what was asked of whom, what it cost, how long it took."""
    cost = (result.prompt_tokens * spec.price_per_1k.input + result.completion_tokens * spec.price_per_1k.output) / 1000
    meta = {
        "model": result.model,
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "latency_s": round(result.latency_s, 4),
        "finish_reason": result.finish_reason,
        "refusal": is_refusal(result.text),
        "attempts": result.attempts,
        "cost_usd": round(cost, 8),
        "prompt_hash": job.prompt_hash,
        "collected_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if result.extra is not None:  # the simulated teachers' own record (claims, drift events, synthetic)
        meta["teacher_meta"] = result.extra
        meta["synthetic"] = bool(result.extra.get("synthetic"))
    return meta


async def _run_job(job: Job, spec: TeacherSpec, client: TeacherClient, store: AnswerStore, state: TeacherState) -> None:
    try:
        result = await client.complete(job.prompt, [image_data_url(p) for p in job.images])
    except RequestFailed as e:
        if e.attempts > 0:
            store.record_failed(job.key, job.prompt, e.message, e.attempts)
        state.note_failure(spec, e)
        return
    store.record_ok(job.key, job.prompt, result.text, answer_meta(spec, job, result), result.attempts)
    state.successes += 1


async def _run_teacher(spec: TeacherSpec, jobs: list[Job], api_key: str | None, store: AnswerStore,
                       state: TeacherState, advance: Callable[[], None]) -> None:
    """`max_concurrency` workers over one teacher's jobs, with the teacher's own connection pool.

    One pool per teacher (not one shared pool): httpcore's pool bookkeeping grows with the square of
    the connections it juggles, and teachers are separate hosts anyway.
    """
    if not jobs:
        return
    limits = httpx.Limits(max_connections=spec.max_concurrency, max_keepalive_connections=spec.max_concurrency)
    async with httpx.AsyncClient(limits=limits, follow_redirects=False) as http:
        client = TeacherClient(spec, http, RateLimiter(spec.rpm, spec.tpm), api_key=api_key, rng=random.Random(),
                               should_stop=lambda: state.aborted is not None)
        pending = iter(jobs)

        async def worker() -> None:
            for job in pending:  # the shared iterator hands each job to exactly one worker
                if state.aborted:
                    return
                await _run_job(job, spec, client, store, state)
                advance()

        await asyncio.gather(*(worker() for _ in range(min(spec.max_concurrency, len(jobs)))))


def _progress(enabled: bool, transient: bool = False) -> Progress:
    return Progress(TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                    console=Console(stderr=True), disable=not enabled, transient=transient)


async def _run_all(specs: Sequence[TeacherSpec], todo: dict[str, list[Job]], done: dict[str, int],
                   keys: dict[str, str | None], store: AnswerStore, run: RunState, show_progress: bool | str) -> None:
    with _progress(bool(show_progress), transient=show_progress == "transient") as progress:
        coros = []
        for spec in specs:
            jobs = todo[spec.name]
            task = progress.add_task(spec.name, total=done[spec.name] + len(jobs), completed=done[spec.name],
                                     status="")
            state = run.per_teacher[spec.name]

            def advance(task=task, state=state) -> None:
                progress.update(task, advance=1, status="stopped" if state.aborted else "")
            coros.append(_run_teacher(spec, jobs, keys[spec.name], store, state, advance))
        await asyncio.gather(*coros)


def _prepare_out(dataset: Dataset, out: Path) -> None:
    """When writing elsewhere, make `out` a dataset directory of its own (studies + images)."""
    if out.resolve() == dataset.root.resolve():
        return
    write_studies(out, dataset.studies)
    for study in dataset.studies:
        for rel in study.images:
            target = out / rel
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(dataset.root / rel, target)


def export_trajectories(out: Path, jobs: Sequence[Job], store: AnswerStore) -> tuple[Path, int]:
    """Write the plan's answers (+ other pairs already in the file) to out/trajectories.jsonl atomically."""
    path = out / TRAJECTORIES_FILE
    planned_pairs = {(j.study_id, j.teacher) for j in jobs}
    kept = [t for t in (read_trajectories(path) if path.is_file() else [])
            if (t.study_id, t.teacher) not in planned_pairs]
    new = []
    for job in jobs:
        answer = store.get(job.key)
        if answer is not None and answer.status == OK:
            new.append(Trajectory(study_id=job.study_id, teacher=job.teacher, prompt=answer.prompt,
                                  response=answer.response or "", meta=answer.meta))
    n = write_jsonl(path, (t.model_dump(mode="json") for t in kept + new))
    return path, n


def _summarize(specs: Sequence[TeacherSpec], jobs: Sequence[Job], store: AnswerStore, run: RunState,
               store_path: Path) -> CollectSummary:
    stats = []
    for spec in specs:
        keys = [j.key for j in jobs if j.teacher == spec.name]
        rows = [a for a in (store.get(k) for k in keys) if a is not None]
        st = teacher_stats(spec.name, len(keys), rows, run.new.get(spec.name, 0))
        st.aborted = run.per_teacher[spec.name].aborted
        stats.append(st)
    errors = [f"{name}: {s.first_error}" for name, s in run.per_teacher.items() if s.first_error]
    return CollectSummary(teachers=stats, store=store_path, errors=errors)


def collect(dataset_dir: str | Path, teachers_cfg: str | Path | Sequence[TeacherSpec], out: str | Path | None = None,
            limit: int | None = None, *, split: str | None = None, store_path: str | Path | None = None,
            progress: bool | str = True) -> CollectSummary:
    """Collect teacher trajectories (see module docstring). Resumable: rerun the same call to finish.
    progress: per-teacher bars (True), none (False), or bars that vanish when done ("transient")."""
    specs = list(teachers_cfg) if not isinstance(teachers_cfg, (str, Path)) else load_teachers(teachers_cfg)
    keys = {spec.name: spec.api_key() for spec in specs}  # fails early, naming a missing variable
    dataset = load_dataset(dataset_dir, with_trajectories=False)
    out = Path(out) if out is not None else dataset.root
    studies = dataset.split(split)[:limit] if limit is not None else dataset.split(split)
    if not studies:
        raise DatasetError(f"{dataset.root}: no studies to collect (split={split!r}, limit={limit})")
    jobs = plan_jobs(dataset, studies, specs)
    store_file = Path(store_path) if store_path is not None else default_store_path(out)
    run = RunState(per_teacher={s.name: TeacherState() for s in specs})
    with AnswerStore(store_file) as store:
        have = store.ok_keys()
        todo = {s.name: [j for j in jobs if j.teacher == s.name and j.key not in have] for s in specs}
        done = {s.name: sum(1 for j in jobs if j.teacher == s.name and j.key in have) for s in specs}
        asyncio.run(_run_all(specs, todo, done, keys, store, run, progress))
        now_have = store.ok_keys()
        run.new = {s.name: sum(1 for j in todo[s.name] if j.key in now_have) for s in specs}
        _prepare_out(dataset, out)
        summary = _summarize(specs, jobs, store, run, store_file)
        summary.trajectories, summary.exported = export_trajectories(out, jobs, store)
    write_json(out / STATE_DIR / SUMMARY_NAME, summary.to_dict())
    if summary.aborted:
        raise CollectError("; ".join(summary.aborted.values()), summary)
    return summary
