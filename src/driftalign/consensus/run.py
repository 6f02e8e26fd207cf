"""`driftalign consensus`: one consensus trajectory t+ per study, with its negatives, as CONSENSUS.jsonl.

Strategies (`--strategy`):
* model  — SPEC §3 eq. 7, the paper's: the SPD student writes t+ from the image, the prompt and
           the teachers' trajectories (`consensus.model`);
* vote   — label-free claim-level majority vote over the teachers (`consensus.vote`);
* hybrid — the model's t+ checked claim by claim against the vote, the vote wins conflicts;
* select — the least-wrong teacher's whole trajectory (`consensus.select`);
* self-edit — the SPD student's own greedy report (its normal prompt, no trajectories), minimally
           edited by the vote: wrong sentences removed, omitted majority claims added
           (`consensus.self_edit`); `--edit-pair` adds the unedited report as one more negative
           ("student-unedited");
* self-select — K sampled reports of the SPD student, t+ = the one agreeing best with the vote
           claim by claim (`consensus.self_select`); `--select-worst-negative` adds the worst as
           one more negative ("student-worst").

self-edit and self-select are label-free like vote/select: they read the teachers' trajectories and
the student's own outputs, never the study labels or the reference report.

Every row records the claims of t+, who supports each, how every teacher relates to t+ (agreement,
contradictions, drift d_u) and the negatives (teacher, response, drift, refusal) — see
`consensus.row`. Refusing teachers (`meta.refusal`) do not vote and are not shown to the model;
their responses stay in the negatives list flagged `refusal` (APO drops them unless
`--keep-refusals`).

Caching: the output's `cache_key` hashes the strategy, the model's files (every strategy that
generates: model/hybrid/self-edit/self-select), the dataset files (studies, trajectories, and the
images when generating), split, teachers, prompt, decoding options (the decoding actually used:
self-edit is greedy, self-select samples), the strategy's own options (self-edit: --edit-pair;
self-select: --k, --seed, --select-worst-negative) and CONSENSUS_VERSION. A finished file with the
same key is reused as is; an interrupted run resumes from `<out>.partial` (one appended line per
study). A sidecar `<out stem>.summary.json` holds the measured quality: label F1 of t+ against the
study labels, beside each teacher's.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator
from rich.progress import Progress

from driftalign.config import StageConfig
from driftalign.consensus.claims import agreement_record
from driftalign.consensus.hybrid import hybrid
from driftalign.consensus.model import consensus_prompt
from driftalign.consensus.quality import consensus_quality
from driftalign.consensus.row import ConsensusRow, read_consensus
from driftalign.consensus.select import select
from driftalign.consensus.self_edit import self_edit
from driftalign.consensus.self_select import self_select
from driftalign.consensus.vote import VOTE_UNCERTAIN, vote
from driftalign.constants import STUDENT_PROMPT, Split
from driftalign.data.dataset import STUDIES_FILE, TRAJECTORIES_FILE, Dataset, load_dataset
from driftalign.data.io import open_appending, write_json, write_jsonl
from driftalign.data.schema import Study, Trajectory
from driftalign.data.subset import seeded_subset
from driftalign.errors import ConfigError, DatasetError
from driftalign.generation.cache import GenerationCache
from driftalign.generation.sampling import SamplingOptions
from driftalign.hashing import files_digest, json_hash, model_digest
from driftalign.labeling.claims import Claim, extract_claims, stance
from driftalign.labeling.uncertain import UncertainPolicy
from driftalign.models.options import ModelOptions

CONSENSUS_VERSION = "consensus-v1"
GENERATIONS_VERSION = "student-reports-v1"
Strategy = Literal["model", "vote", "hybrid", "select", "self-edit", "self-select"]
MODEL_FREE_STRATEGIES = frozenset({"vote", "select"})  # label-free and model-free: teachers' texts only
SELF_STRATEGIES = frozenset({"self-edit", "self-select"})  # the student's own reports, judged by the vote
UNEDITED_NEGATIVE = "student-unedited"   # self-edit --edit-pair: the student's report before the edit
WORST_NEGATIVE = "student-worst"         # self-select --select-worst-negative: the worst-scoring sample


class ConsensusConfig(StageConfig, ModelOptions, SamplingOptions):
    """Options of `driftalign consensus` (flags == YAML keys); model/hybrid also take the model's options
    (`ModelOptions`) and decoding's (`SamplingOptions`, default plain greedy)."""

    data: Path = Field(description="dataset directory with trajectories.jsonl")
    out: Path = Field(description="CONSENSUS.jsonl to write")
    model: Path | None = Field(None, description="SPD model directory (or SPD output dir); needed by model/hybrid/"
                                                 "self-edit/self-select")
    strategy: Strategy = Field("model", description="model (paper, eq. 7), vote (claim-level majority), hybrid "
                               "(model checked by the vote), select (the least-wrong teacher's whole trajectory), "
                               "self-edit (the student's greedy report edited by the vote) or self-select (the best "
                               "of --k student samples by claim agreement with the vote)")
    split: Split = Field("train", description="dataset split ('all' for every study)")
    teachers: str = Field("all", description="'all' or a comma-separated list of teacher names")
    prompt: str = Field(STUDENT_PROMPT, description="the student's prompt l (the model strategy appends T to it)")
    batch_size: int = Field(8, ge=1, description="studies per generation batch (model/hybrid)")
    max_new_tokens: int = Field(192, ge=1, description="max tokens of the model's t+")
    max_teacher_chars: int = Field(1500, ge=50, description="each teacher trajectory is cut to this many characters in the prompt")
    backend: Literal["transformers", "vllm"] = Field("transformers", description="generation backend (model/hybrid)")
    resume: bool = Field(True, description="resume an interrupted run from <out>.partial")
    uncertain: UncertainPolicy = Field(VOTE_UNCERTAIN, description="how the vote counts a hedged claim ('possible X'): "
                                       "own (default: a polarity of its own), positive, or negative")
    edit_pair: bool = Field(False, description="self-edit: add the student's unedited report as one more negative "
                                               f"({UNEDITED_NEGATIVE!r}) when the edit changed it")
    k: int = Field(8, ge=1, description="self-select: reports sampled from the student per study (always sampled, "
                                        "with --temperature/--top-p/--top-k/--repetition-penalty)")
    select_worst_negative: bool = Field(False, description="self-select: add the worst-scoring sample as one more "
                                                           f"negative ({WORST_NEGATIVE!r}) when it scores below t+")
    seed: int = Field(0, description="self-select: random seed for sampling; --max-studies: the subset's seed")
    max_studies: int | None = Field(None, ge=1, description="write t+ only for a seeded subset of this many studies "
                                    "(data.subset, by --seed and study id): the subset `apo --max-studies N --seed S` "
                                    "trains on, so nothing is generated for studies APO never reads; default: all",
                                    json_schema_extra={"hashed_when_set": True})

    @model_validator(mode="after")
    def _model_needed(self) -> ConsensusConfig:
        if self.needs_model and self.model is None:
            raise ValueError(f"--strategy {self.strategy} needs --model SPD_DIR")
        return self

    @property
    def needs_model(self) -> bool:
        return self.strategy_needs_model(self.strategy)

    @staticmethod
    def strategy_needs_model(strategy: str) -> bool:
        """Whether a strategy generates with the SPD model (all but the label-free, model-free vote/select)."""
        return strategy not in MODEL_FREE_STRATEGIES

    def teacher_names(self) -> list[str] | None:
        if self.teachers.strip() == "all":
            return None
        return [t.strip() for t in self.teachers.split(",") if t.strip()]


@dataclass(frozen=True)
class ConsensusSummary:
    out: Path
    rows: int
    skipped: int
    cache_hit: bool
    quality: dict[str, Any]

    def line(self) -> str:
        f1 = self.quality.get("consensus", {}).get("f1", float("nan"))
        return (f"{self.rows} consensus rows ({self.skipped} studies skipped: no answering teacher)"
                f"{' [cache hit]' if self.cache_hit else ''}; t+ label F1 {f1:.3f} -> {self.out}")


# ---- inputs ------------------------------------------------------------------------------------


def _answering(trajs: list[Trajectory]) -> list[Trajectory]:
    """Teachers that vote / are shown to the model: non-empty, not refusals."""
    return [t for t in trajs if t.response.strip() and not t.meta.get("refusal")]


def study_inputs(ds: Dataset, cfg: ConsensusConfig) -> list[tuple[Study, list[Trajectory]]]:
    """(study, its trajectories sorted by teacher) for the split's studies that have any."""
    if not ds.trajectories:
        raise DatasetError(f"{ds.root / TRAJECTORIES_FILE}: no trajectories")
    names = cfg.teacher_names()
    if names is not None:
        unknown = sorted(set(names) - set(ds.teachers))
        if unknown:
            raise ConfigError(f"--teachers: {unknown} not in {ds.root / TRAJECTORIES_FILE} (have {ds.teachers})")
    by_study = ds.trajectories_by_study(names)
    studies = [s for s in ds.split(cfg.split) if s.study_id in by_study]
    if not studies:
        raise DatasetError(f"{ds.root}: no study of split {cfg.split!r} has trajectories")
    return [(s, sorted(by_study[s.study_id], key=lambda t: t.teacher)) for s in studies]


def cache_key(cfg: ConsensusConfig, ds: Dataset, model_dir: Path | None) -> str:
    """Content hash of everything that determines the consensus rows (module docstring)."""
    files = [ds.root / STUDIES_FILE, ds.root / TRAJECTORIES_FILE]
    if cfg.needs_model:
        files += sorted({p for s in ds.studies for p in ds.image_paths(s)})
    parts = {
        "version": CONSENSUS_VERSION, "strategy": cfg.strategy, "split": cfg.split, "teachers": cfg.teachers,
        "data": files_digest(files), "prompt": cfg.prompt,
        "model": model_digest(model_dir) if model_dir is not None and cfg.needs_model else None,
        "decoding": [cfg.max_new_tokens, cfg.max_teacher_chars] if cfg.needs_model else None,
    }
    if cfg.needs_model:   # added later: only what differs from plain greedy / the defaults, so older caches keep their keys
        neutral = SamplingOptions().sampling_fields() | {"min_pixels": None, "max_pixels": None, "dtype": "auto"}
        ours = sampling_fields(cfg) | {"min_pixels": cfg.min_pixels, "max_pixels": cfg.max_pixels, "dtype": cfg.dtype}
        changed = {k: v for k, v in ours.items() if v != neutral[k]}
        if changed:
            parts["sampling"] = changed
    if cfg.uncertain is not VOTE_UNCERTAIN:   # only when set: existing caches keep their keys
        parts["uncertain"] = cfg.uncertain.value
    if cfg.strategy == "self-edit":
        parts["edit_pair"] = cfg.edit_pair
    if cfg.strategy == "self-select":
        parts["self_select"] = {"k": cfg.k, "seed": cfg.seed, "worst_negative": cfg.select_worst_negative}
    if cfg.max_studies is not None:
        parts["subset"] = {"max_studies": cfg.max_studies, "seed": cfg.seed}
    return json_hash(parts)


def generation_key(cfg: ConsensusConfig, ds: Dataset, model_dir: Path) -> str:
    """Content hash of what decides the student's own reports (self-edit, self-select), and nothing else:
    the cache of `generations_path` is shared by runs that differ only in what they make of them
    (--edit-pair, --select-worst-negative, --uncertain; self-edit also --max-studies: greedy reports
    do not depend on the batch, while self-select's samples come from one generator per run)."""
    files = [ds.root / STUDIES_FILE, *sorted({p for s in ds.studies for p in ds.image_paths(s)})]
    parts = {"version": GENERATIONS_VERSION, "model": model_digest(model_dir), "data": files_digest(files),
             "prompt": cfg.prompt, "backend": cfg.backend, "max_new_tokens": cfg.max_new_tokens,
             "sampling": sampling_fields(cfg), "images": [cfg.min_pixels, cfg.max_pixels], "dtype": cfg.dtype,
             "k": cfg.k if cfg.strategy == "self-select" else 1}
    if cfg.strategy == "self-select":   # one generator seeded per run: a sample also depends on its batch
        parts["draw"] = {"seed": cfg.seed, "batch_size": cfg.batch_size, "max_studies": cfg.max_studies}
    return json_hash(parts)


def generations_path(cfg: ConsensusConfig, key: str) -> Path:
    """The student's reports per study (`generation.cache`), beside the consensus files."""
    return cfg.out.parent / ".cache" / f"student-reports-{key[:20]}.jsonl"


# ---- one row -----------------------------------------------------------------------------------


def build_row(study: Study, trajs: list[Trajectory], chosen: str, cfg: ConsensusConfig,
              claims: dict[str, list[Claim]], key: str, extra: dict[str, Any] | None = None,
              extra_negatives: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    """A CONSENSUS.jsonl row: t+'s claims, supporters, per-teacher agreement and drift, negatives.

    `extra_negatives`: (name, response) pairs that are not teachers (the student's own reports of
    self-edit/self-select), appended after the teachers' negatives with their drift from t+ computed
    as a teacher's; they are not in `teachers` (nor in the summary's teacher quality). Empty responses
    are left out."""
    chosen_claims = extract_claims(chosen)
    chosen_stance = stance(chosen_claims)
    stances = {t: stance(cs) for t, cs in claims.items()}
    teachers = {t: agreement_record(s, chosen_stance) for t, s in stances.items()}
    for t in trajs:
        if t.teacher not in teachers:
            teachers[t.teacher] = {"refusal": True, "drift": 1.0}
    row = ConsensusRow(
        study_id=study.study_id, prompt=cfg.prompt, chosen=chosen, strategy=cfg.strategy,
        supporters={f: [t for t, s in sorted(stances.items()) if s.get(f) == p] for f, p in chosen_stance.items()},
        claims=[{"finding": c.finding, "polarity": c.polarity, "side": c.side, "sentence_index": c.sentence_index}
                for c in chosen_claims],
        teachers=teachers,
        negatives=[{"teacher": t.teacher, "response": t.response, "drift": teachers[t.teacher]["drift"],
                    "refusal": t.teacher not in claims} for t in trajs if t.response.strip()]
                  + [{"teacher": name, "response": text,
                      "drift": agreement_record(stance(extract_claims(text)), chosen_stance)["drift"]}
                     for name, text in extra_negatives or [] if text.strip()],
        cache_key=key, synthetic=bool(study.meta.get("synthetic")), details=extra or {},
    )
    return row.model_dump(mode="json")


def _vote_details(voted) -> dict[str, Any]:
    return {"kept": [k.to_dict() for k in voted.kept], "n_voters": voted.n_teachers}


# ---- strategies ----------------------------------------------------------------------------------


def _claims(trajs: list[Trajectory]) -> dict[str, list[Claim]]:
    return {t.teacher: extract_claims(t.response) for t in _answering(trajs)}


def sampling_fields(cfg: ConsensusConfig) -> dict[str, Any]:
    """The decoding the strategy really uses: self-edit is plain greedy (the sampling values, which greedy
    ignores, set neutral), self-select always samples; model/hybrid decode as configured."""
    fields = cfg.sampling_fields()
    if cfg.strategy == "self-edit":
        return SamplingOptions(repetition_penalty=cfg.repetition_penalty).sampling_fields()
    if cfg.strategy == "self-select":
        return fields | {"do_sample": True}
    return fields


def _sampling(cfg: ConsensusConfig):
    from driftalign.generation.backend import SamplingConfig

    k = cfg.k if cfg.strategy == "self-select" else 1
    return SamplingConfig(max_new_tokens=cfg.max_new_tokens, num_return_sequences=k, **sampling_fields(cfg))


def _make_backend(cfg: ConsensusConfig):
    from driftalign.generation import make_backend
    from driftalign.models.load import model_dir as resolve_model_dir   # not training.apo: consensus sits below it

    return make_backend(cfg.backend, str(resolve_model_dir(cfg.model)), _sampling(cfg), cfg)


def _prompt(cfg: ConsensusConfig, trajs: list[Trajectory]) -> str:
    """model/hybrid: the prompt with the trajectories (eq. 7); self-edit/self-select: the student's own prompt l."""
    if cfg.strategy in SELF_STRATEGIES:
        return cfg.prompt
    return consensus_prompt(cfg.prompt, [t.response for t in _answering(trajs)], cfg.max_teacher_chars)


def _generate(backend, ds: Dataset, batch: list[tuple[Study, list[Trajectory]]],
              cfg: ConsensusConfig) -> list[list[str]]:
    """outputs[i] = the texts generated for batch[i] (one, or --k for self-select)."""
    from driftalign.generation.backend import GenerationRequest

    requests = [GenerationRequest(images=ds.load_images(s), prompt=_prompt(cfg, trajs)) for s, trajs in batch]
    return [[o.strip() for o in outs] for outs in backend.generate(requests, _sampling(cfg))]


def _self_edit_row(study: Study, trajs: list[Trajectory], student: str, voted, cfg: ConsensusConfig,
                   claims: dict[str, list[Claim]], key: str) -> dict[str, Any]:
    edit = self_edit(student, voted, cfg.uncertain)
    extra = [(UNEDITED_NEGATIVE, student)] if cfg.edit_pair and edit.changed else []
    return build_row(study, trajs, edit.text, cfg, claims, key, {**edit.details(), **_vote_details(voted)}, extra)


def _self_select_row(study: Study, trajs: list[Trajectory], samples: list[str], voted, cfg: ConsensusConfig,
                     claims: dict[str, list[Claim]], key: str) -> dict[str, Any]:
    chosen = self_select([extract_claims(s) for s in samples], voted, samples, cfg.uncertain)
    worst = chosen.worst if cfg.select_worst_negative else None
    extra = [(WORST_NEGATIVE, samples[worst])] if worst is not None else []
    details = {"samples": samples, "scores": [s.to_dict() for s in chosen.scores], "selected": chosen.best,
               "worst": chosen.worst, "fallback": chosen.fallback, **_vote_details(voted)}
    t_plus = voted.text if chosen.fallback else samples[chosen.best]
    return build_row(study, trajs, t_plus, cfg, claims, key, details, extra)


class _Generator:
    """The model's texts for a batch of studies: from `cache` where it has them (self-edit/self-select), else
    generated (the backend built on first need) and added to it."""

    def __init__(self, ds: Dataset, cfg: ConsensusConfig, backend=None, cache: GenerationCache | None = None):
        self.ds, self.cfg, self.backend, self.cache = ds, cfg, backend, cache

    def __call__(self, answered: list[tuple[Study, list[Trajectory]]]) -> dict[str, list[str]]:
        todo = [(s, t) for s, t in answered if self.cache is None or s.study_id not in self.cache]
        if todo:
            if self.backend is None:
                self.backend = _make_backend(self.cfg)
            outputs = _generate(self.backend, self.ds, todo, self.cfg)
            new = {s.study_id: texts for (s, _), texts in zip(todo, outputs, strict=True)}
            if self.cache is None:
                return new
            self.cache.put(new)
        return {s.study_id: self.cache.get(s.study_id) for s, _ in answered}


def _own_texts(row: dict[str, Any] | None) -> list[str] | None:
    """The student's generated texts a self-edit/self-select row records (a resumed run puts them in the cache)."""
    details = (row or {}).get("details") or {}
    if "samples" in details:
        return list(details["samples"])
    return [details["student_text"]] if "student_text" in details else None


def consensus_rows(ds: Dataset, items: list[tuple[Study, list[Trajectory]]], cfg: ConsensusConfig, key: str,
                   backend=None, cache: GenerationCache | None = None) -> Iterator[tuple[str, dict[str, Any] | None]]:
    """Yield (study_id, row or None when no teacher answered) in batches of cfg.batch_size."""
    generate = _Generator(ds, cfg, backend, cache)
    for start in range(0, len(items), cfg.batch_size):
        batch = items[start:start + cfg.batch_size]
        answered = [(s, trajs) for s, trajs in batch if _answering(trajs)]
        generated: dict[str, list[str]] = {}
        if cfg.needs_model and answered:
            generated = generate(answered)
        model_text = {sid: texts[0] for sid, texts in generated.items()}
        for study, trajs in batch:
            claims = _claims(trajs)
            voted = vote(claims, cfg.uncertain)
            if voted is None:
                yield study.study_id, None
                continue
            if cfg.strategy == "vote":
                yield study.study_id, build_row(study, trajs, voted.text, cfg, claims, key, _vote_details(voted))
            elif cfg.strategy == "select":
                teacher = select(claims, voted)
                chosen = next(t.response for t in trajs if t.teacher == teacher)
                yield study.study_id, build_row(study, trajs, chosen, cfg, claims, key,
                                                {"selected_teacher": teacher, **_vote_details(voted)})
            elif cfg.strategy == "self-edit":
                yield study.study_id, _self_edit_row(study, trajs, model_text[study.study_id], voted, cfg, claims, key)
            elif cfg.strategy == "self-select":
                yield study.study_id, _self_select_row(study, trajs, generated[study.study_id], voted, cfg, claims, key)
            elif cfg.strategy == "model":
                yield study.study_id, build_row(study, trajs, model_text[study.study_id], cfg, claims, key)
            else:
                merged = hybrid(extract_claims(model_text[study.study_id]), voted)
                details = {"model_text": model_text[study.study_id], "sources": merged.sources,
                           "conflicts": merged.conflicts, "unsupported": merged.unsupported}
                yield study.study_id, build_row(study, trajs, merged.text, cfg, claims, key, details)


# ---- the stage -----------------------------------------------------------------------------------


def summary_path(out: Path) -> Path:
    return out.with_name(out.stem + ".summary.json")


def _partial_rows(path: Path, key: str) -> dict[str, dict[str, Any] | None]:
    """Rows of an interrupted run (a torn last line is dropped); None marks a skipped study."""
    rows: dict[str, dict[str, Any] | None] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(json.JSONDecodeError, KeyError, TypeError):
                obj = json.loads(line)
                if obj["cache_key"] == key:
                    rows[obj["study_id"]] = obj.get("row")
    return rows


def _cached(out: Path, key: str) -> bool:
    if not out.is_file() or not summary_path(out).is_file():
        return False
    summary = json.loads(summary_path(out).read_text(encoding="utf-8"))
    return summary.get("cache_key") == key and all(r.cache_key == key for r in read_consensus(out))


def run_consensus(cfg: ConsensusConfig, backend=None) -> ConsensusSummary:
    """Write CONSENSUS.jsonl (+ summary) for `cfg`; reuse a finished file with the same cache key."""
    ds = load_dataset(cfg.data, verify_images=False)
    items = study_inputs(ds, cfg)
    if cfg.max_studies is not None:   # the studies APO can train on (some teacher answered), then APO's subset
        keep = set(seeded_subset([s.study_id for s, t in items if _answering(t)], cfg.max_studies, cfg.seed))
        items = [(s, t) for s, t in items if s.study_id in keep]
    model_dir = None
    if cfg.needs_model:
        from driftalign.models.load import model_dir as resolve_model_dir   # not training.apo: consensus sits below it

        model_dir = resolve_model_dir(cfg.model)
    key = cache_key(cfg, ds, model_dir)
    partial = cfg.out.with_name(cfg.out.name + ".partial")
    if _cached(cfg.out, key):
        partial.unlink(missing_ok=True)     # a run killed after writing the file, before removing its partial
        summary = json.loads(summary_path(cfg.out).read_text(encoding="utf-8"))
        return ConsensusSummary(cfg.out, summary["rows"], summary["skipped"], True, summary["quality"])
    done = _partial_rows(partial, key) if cfg.resume else {}
    todo = [(s, t) for s, t in items if s.study_id not in done]
    cache = None
    if todo and cfg.strategy in SELF_STRATEGIES:
        cache = GenerationCache(generations_path(cfg, generation_key(cfg, ds, model_dir)))
        cache.put({sid: texts for sid, row in done.items() if sid not in cache and (texts := _own_texts(row))})
    if todo and cfg.strategy == "self-select":
        import torch

        torch.manual_seed(cfg.seed)
    cfg.out.parent.mkdir(parents=True, exist_ok=True)
    with open_appending(partial, resume=cfg.resume) as f, Progress(transient=True) as bar:
        task = bar.add_task(f"consensus ({cfg.strategy})", total=len(todo))
        for study_id, row in consensus_rows(ds, todo, cfg, key, backend, cache):
            done[study_id] = row
            f.write(json.dumps({"study_id": study_id, "cache_key": key, "row": row}, ensure_ascii=False) + "\n")
            f.flush()
            bar.advance(task)
    rows = [done[s.study_id] for s, _ in items if done.get(s.study_id) is not None]
    quality = consensus_quality(ds, rows)
    skipped = len(items) - len(rows)
    write_json(summary_path(cfg.out), {"cache_key": key, "strategy": cfg.strategy, "rows": len(rows),
                                       "skipped": skipped, "synthetic": any(r["synthetic"] for r in rows),
                                       "quality": quality})
    write_jsonl(cfg.out, rows)              # after its summary: the file exists only once the stage is complete
    partial.unlink(missing_ok=True)
    return ConsensusSummary(cfg.out, len(rows), skipped, False, quality)
