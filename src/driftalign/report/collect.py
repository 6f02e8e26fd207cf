"""What a finished run directory holds, read into typed records (`records.py`) for the HTML report.

A run directory is whatever the stages wrote into one folder: `driftalign demo`'s layout
(`summary.json`, `eval/`, `preds/`, `drift/`, `consensus/`, `world/`, one folder per trained model),
a multi-seed run's (`experiment.json` + `seed-N/` runs of `driftalign run` with `seeds:`), or
a folder a user filled by hand with `driftalign drift --out`, `eval --json`, `ddsample`, `grpo`, a
benchmark's `--json`. Files are recognised by their content (the stable keys each stage writes),
not by where they sit, within a few directory levels; model weights, images and checkpoints are
never opened.

    collect_run(run_dir) -> RunContents     # raises RunDirError when nothing in run_dir is a stage output

Synthetic or not: the dataset's `world.json` (written only by `driftalign synth` / `build_world`)
decides; without a dataset directory, the `synthetic` flags the stages wrote into their outputs do.
A user's real dataset has neither, so nothing of it is ever marked synthetic.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from driftalign.constants import MSCXRT_FINDINGS
from driftalign.data.io import read_jsonl
from driftalign.drift.errors import ERROR_KINDS
from driftalign.errors import DatasetError, DriftalignError
from driftalign.metrics.aggregate import mean_std
from driftalign.report.records import (
    Benchmark,
    ConsensusOutputs,
    DDSampleOutputs,
    DeerTables,
    DriftOutputs,
    Experiment,
    GRPOOutputs,
    Interval,
    PooledComparison,
    RunContents,
    SeedRow,
    SeedTable,
    SeedTableRow,
    StudentEval,
    TrainingLog,
    read_mean_std,
    success_check,
    summary_verdicts,
)

__all__ = ["RunContents", "RunDirError", "StudentEval", "TrainingLog", "collect_run", "describe_model",
           "read_experiment", "summary_verdicts"]

CONFIG_FILE = "driftalign_config.yaml"
RUN_CONFIG_FILES = ("pipeline.yaml", CONFIG_FILE)   # the run's own config: `driftalign run` / the earlier demo
WORLD_FILE = "world.json"
STUDIES_FILE = "studies.jsonl"
MAX_DEPTH = 3                       # directory levels below the run directory that are searched
MAX_JSON_BYTES = 20_000_000         # larger JSON files are not stage summaries
# Directories that hold no stage summary: images, model weights, caches, checkpoints.
SKIP_DIRS = frozenset({"images", "final", "adapter", "reference_cache", "apo-reference-cache", "__pycache__",
                       "node_modules"})
# `driftalign drift`'s figures, in the order the report shows them (drift/plots.py PLOT_FILES, by importance)
PLOT_ORDER = ("drift_per_teacher.png", "drift_finding_accuracy.png", "drift_kappa.png", "drift_steps.png")
PREDICTION_DIRS = frozenset({"preds", "predictions", "pred"})


class RunDirError(DriftalignError):
    """RUN_DIR is missing or holds no output of a driftalign stage."""


EXPECTED = ("summary.json (driftalign run / demo), experiment.json (a multi-seed run), eval/*.json (driftalign eval "
            "--json), drift/drift.json (driftalign drift), a ddsample or grpo output directory, or a bench_*.json")


# ---- reading -------------------------------------------------------------------------------------


def _walk(root: Path, depth: int = 0) -> Iterator[Path]:
    """Files of `root` and its sub-directories down to MAX_DEPTH, sorted; skips weights, images, caches."""
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return
    if depth > 0 and (root / "model.safetensors").exists():
        return   # a model directory: weights, tokenizer, processor
    for p in entries:
        if p.is_file():
            yield p
    if depth >= MAX_DEPTH:
        return
    for p in entries:
        if p.is_dir() and not p.is_symlink() and not p.name.startswith((".", "checkpoint-")) and p.name not in SKIP_DIRS:
            yield from _walk(p, depth + 1)


def _load_json(path: Path) -> Any:
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            return None
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _load_yaml(path: Path) -> dict[str, Any] | None:
    try:
        obj = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    return obj if isinstance(obj, dict) else None


def _jsonl_rows(path: Path) -> list[dict[str, Any]]:
    try:
        return [obj for _, obj in read_jsonl(path)]
    except DatasetError:
        return []


def _is_eval(obj: Any) -> bool:
    return isinstance(obj, dict) and {"accuracy", "clinical", "n", "split"} <= obj.keys()


def _is_drift(obj: Any) -> bool:
    return isinstance(obj, dict) and {"per_teacher", "teachers", "version"} <= obj.keys()


def _is_demo_summary(obj: Any) -> bool:
    """OUT/summary.json of `driftalign run` / `demo` (verdicts) or of the earlier demo (apo_vs_spd)."""
    return isinstance(obj, dict) and "students" in obj and ("verdicts" in obj or "apo_vs_spd" in obj)


def _is_experiment(obj: Any) -> bool:
    """experiment.json of `driftalign run` with `seeds:`."""
    return (isinstance(obj, dict) and {"seeds", "students", "verdicts", "inherited_gap"} <= obj.keys()
            and isinstance(obj["students"], dict))


def _is_ddsample(obj: Any) -> bool:
    return isinstance(obj, dict) and {"mean_d_all", "mean_d_subset", "subset", "studies"} <= obj.keys()


def _is_consensus_summary(obj: Any) -> bool:
    return isinstance(obj, dict) and {"strategy", "cache_key", "rows"} <= obj.keys()


def _benchmark_rows(obj: Any) -> list[dict[str, Any]] | None:
    rows = obj.get("rows") if isinstance(obj, dict) else obj
    if isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows):
        return rows
    return None


def _run_name(path: Path, run_dir: Path, split: str) -> str:
    """eval/spd.json -> "spd"; seed0/metrics/test/spd-all.json -> "seed0/spd-all"."""
    parts = [p for p in path.relative_to(run_dir).parent.parts if p not in {"eval", "metrics", split}]
    stem = path.stem if path.stem not in {"metrics", "eval", "result", "results"} else (parts.pop() if parts else path.stem)
    return "/".join([*parts, stem])


def _model_config(path: Path, run_dir: Path) -> dict[str, Any] | None:
    """The training config of the model an eval JSON scored: <ancestor>/<stem>/driftalign_config.yaml."""
    for ancestor in [path.parent, *path.parent.parents]:
        cfg = ancestor / path.stem / CONFIG_FILE
        if cfg.is_file():
            return _load_yaml(cfg)
        if ancestor == run_dir:
            break
    return None


def _resolve(value: Any, run_dir: Path) -> Path | None:
    """A path from a saved config; a moved run directory is followed by its last two parts."""
    if not isinstance(value, str) or not value:
        return None
    p = Path(value)
    for cand in (p, run_dir / p, run_dir / Path(*p.parts[-2:]) if len(p.parts) >= 2 else run_dir / p.name,
                 run_dir / p.name):
        if cand.exists():
            return cand
    return None


def _consensus_strategy(cfg: dict[str, Any], run_dir: Path) -> str | None:
    path = _resolve(cfg.get("consensus"), run_dir)
    if path is not None:
        summary = _load_json(path.with_name(path.stem + ".summary.json"))
        if isinstance(summary, dict) and summary.get("strategy"):
            return str(summary["strategy"])
    stem = Path(str(cfg.get("consensus", ""))).stem
    return stem if stem in {"vote", "select", "model", "hybrid"} else None


def describe_model(name: str, cfg: dict[str, Any] | None, run_dir: Path) -> tuple[str, str]:
    """(label, kind) of a trained model from its saved config; kind is one of records.KIND_ORDER.
    An SPD on the reference reports is the ceiling ("oracle") when its run is named oracle* (the
    pipeline's oracle stage), otherwise an SFT baseline (DEER's start, `spd` in deer.yaml).
    Without a config the label is the run name (kind "oracle" when the name says so)."""
    base = name.rsplit("/", 1)[-1]
    if cfg is None:
        return name, "oracle" if base.startswith("oracle") else "other"
    if "consensus" in cfg and "beta" in cfg:                          # driftalign apo
        strategy = _consensus_strategy(cfg, run_dir)
        parts = [f"{strategy} t+"] if strategy else []
        parts.append(f"{cfg.get('weights', 'uniform')} w")
        if cfg.get("negative_tokens", "all") != "all":
            parts.append(f"{cfg['negative_tokens']} tokens")
        if cfg.get("sft_weight"):
            parts.append(f"SFT weight {cfg['sft_weight']}")
        return f"SPD + APO ({', '.join(parts)})", "apo"
    if "num_generations" in cfg:                                       # driftalign grpo
        weights = cfg.get("token_weights", "tfidf")
        return ("GRPO (plain)" if weights == "none" else f"GRPO + DiTPO ({weights} token weights)"), "grpo"
    if cfg.get("targets") == "reference":
        if cfg.get("train_only") == "vision":
            return "SFT cold start (reference reports, vision + projector)", "sft"
        if base.startswith("oracle"):                                  # the pipeline's oracle stage
            return "oracle (SPD on the reference reports: the ceiling)", "oracle"
        return "SFT (reference reports)", "sft"                        # e.g. DEER's start: a baseline, not a ceiling
    if "targets" in cfg:                                               # driftalign spd on teachers
        teachers = str(cfg.get("teachers", "all"))
        return ("SPD (all teachers)" if teachers == "all" else f"SPD ({teachers} only)"), "spd"
    return name, "oracle" if base.startswith("oracle") else "other"


def _predictions_for(eval_path: Path, split: str, preds: dict[Path, str]) -> Path | None:
    """The PRED.jsonl of an eval JSON: same stem, in a preds/ or predictions/<split>/ folder nearby."""
    stem = eval_path.stem
    best: tuple[int, Path] | None = None
    for p in preds:
        if p.stem != stem:
            continue
        # the nearer the common ancestor with the eval JSON, the better; a matching split folder wins ties
        common = 0
        for a, b in zip(p.parts, eval_path.parts):
            if a != b:
                break
            common += 1
        score = common * 2 + (1 if p.parent.name == split else 0)
        if best is None or score > best[0]:
            best = (score, p)
    return best[1] if best else None


def _looks_like_predictions(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as f:
            first = json.loads(f.readline() or "null")
    except (OSError, ValueError):
        return False
    return isinstance(first, dict) and "study_id" in first and "text" in first and "teacher" not in first


def _nearest_world(path: Path, run_dir: Path) -> Path | None:
    """The dataset an output most likely belongs to: the nearest <ancestor>/world with studies.jsonl."""
    for ancestor in path.parents:
        if (ancestor / "world" / STUDIES_FILE).is_file():
            return ancestor / "world"
        if ancestor == run_dir:
            break
    return None


def _find_dataset(run_dir: Path, configs: list[dict[str, Any]]) -> Path | None:
    candidates = [run_dir / "world", run_dir]
    candidates += [p for cfg in configs if (p := _resolve(cfg.get("data"), run_dir)) is not None]
    candidates += sorted(run_dir.glob("*/world"))
    for cand in candidates:
        if (cand / STUDIES_FILE).is_file():
            return cand
    return None


def _synthetic(dataset: Path | None, flags: list[bool]) -> tuple[bool, str]:
    if dataset is not None and (dataset / WORLD_FILE).is_file():
        world = _load_json(dataset / WORLD_FILE)
        if isinstance(world, dict) and "synthetic" in world:
            return bool(world["synthetic"]), f"{dataset / WORLD_FILE}"
    if dataset is not None:
        return False, f"{dataset} has no {WORLD_FILE}: a user's dataset"
    return any(flags), "the `synthetic` flags of the stage outputs (no dataset directory found)"


# ---- the walk -------------------------------------------------------------------------------------------


@dataclass
class _Found:
    """The stage outputs one walk of the run directory found, by kind."""

    evals: list[tuple[Path, dict[str, Any]]] = field(default_factory=list)
    preds: dict[Path, str] = field(default_factory=dict)
    drift: list[tuple[Path, dict[str, Any]]] = field(default_factory=list)
    consensus: list[ConsensusOutputs] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)
    ddsample: list[DDSampleOutputs] = field(default_factory=list)
    grpo: list[tuple[Path, dict[str, Any]]] = field(default_factory=list)
    benchmarks: list[Benchmark] = field(default_factory=list)
    configs: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] | None = None       # OUT/summary.json of `driftalign run` / `demo`
    experiment: dict[str, Any] | None = None    # OUT/experiment.json of a multi-seed run
    flags: list[bool] = field(default_factory=list)

    def any_output(self) -> bool:
        return bool(self.evals or self.drift or self.experiment or self.summary or self.ddsample or self.grpo
                    or self.benchmarks)


def _classify_json(found: _Found, path: Path, obj: Any, run_dir: Path) -> None:
    """File one parsed JSON under the stage output it is (by its keys), or nowhere."""
    if isinstance(obj, dict) and isinstance(obj.get("synthetic"), bool):
        found.flags.append(obj["synthetic"])
    if _is_eval(obj):
        found.evals.append((path, obj))
    elif _is_drift(obj):
        found.drift.append((path, obj))
    elif _is_experiment(obj) and path.parent == run_dir:
        found.experiment = obj
    elif _is_demo_summary(obj) and path.parent == run_dir:
        found.summary = obj
    elif _is_ddsample(obj):
        found.ddsample.append(DDSampleOutputs(path.parent, obj))
    elif _is_consensus_summary(obj) and path.name.endswith(".summary.json"):
        jsonl = path.with_name(path.name.removesuffix(".summary.json") + ".jsonl")
        if jsonl.is_file():
            found.consensus.append(ConsensusOutputs(jsonl, obj))
    elif path.name == "grpo_data.json" and isinstance(obj, dict):
        found.grpo.append((path, obj))
    elif path.name.startswith("bench") and (rows := _benchmark_rows(obj)) is not None:
        found.benchmarks.append(Benchmark(path, tuple(rows)))


def _scan(run_dir: Path) -> _Found:
    found = _Found()
    for path in _walk(run_dir):
        if path.suffix == ".jsonl":
            if path.name == "trainer_log.jsonl":
                found.logs.append(path)
            elif {path.parent.name, path.parent.parent.name} & PREDICTION_DIRS and _looks_like_predictions(path):
                found.preds[path] = path.stem
        elif path.name == CONFIG_FILE:
            if (cfg := _load_yaml(path)) is not None:
                found.configs.append(cfg)
        elif path.suffix == ".json" and not path.name.endswith(".key.json"):
            if (obj := _load_json(path)) is not None:
                _classify_json(found, path, obj, run_dir)
    return found


def _students(found: _Found, run_dir: Path) -> list[StudentEval]:
    students = []
    for path, obj in found.evals:
        split = str(obj.get("split", "test"))
        name = _run_name(path, run_dir, split)
        cfg = _model_config(path, run_dir)
        label, kind = describe_model(name, cfg, run_dir)
        dataset = (_resolve(cfg.get("data"), run_dir) if cfg else None) or _nearest_world(path, run_dir)
        students.append(StudentEval(name=name, label=label, split=split, metrics=obj, path=path,
                                    preds=_predictions_for(path, split, found.preds), oracle=kind == "oracle",
                                    dataset=dataset, kind=kind))
    return students


def _drift(found: _Found, run_dir: Path, notes: list[str]) -> DriftOutputs | None:
    """The drift.json nearest the run directory, with the PNGs next to it (PLOT_ORDER first)."""
    if not found.drift:
        return None
    path, obj = min(found.drift, key=lambda d: len(d[0].relative_to(run_dir).parts))
    plots = tuple(sorted(path.parent.glob("*.png"), key=lambda p: (PLOT_ORDER.index(p.name) if p.name in PLOT_ORDER
                                                                    else len(PLOT_ORDER), p.name)))
    if len(found.drift) > 1:
        notes.append(f"{len(found.drift)} drift.json files found; showing {path.relative_to(run_dir)}")
    return DriftOutputs(path.parent, obj, plots)


def _training(found: _Found, run_dir: Path) -> list[TrainingLog]:
    logs = []
    for path in found.logs:
        rows = tuple(_jsonl_rows(path))
        if rows:
            logs.append(TrainingLog(str(path.parent.relative_to(run_dir)), path, rows))
    return logs


def _grpo(found: _Found, training: list[TrainingLog]) -> list[GRPOOutputs]:
    out = []
    for path, data in found.grpo:
        log = next((t.rows for t in training if t.path.parent == path.parent), ())
        out.append(GRPOOutputs(path.parent, data, _load_yaml(path.parent / CONFIG_FILE), log))
    return out


def _run_config(run_dir: Path) -> dict[str, Any] | None:
    for name in RUN_CONFIG_FILES:
        if (run_dir / name).is_file():
            return _load_yaml(run_dir / name)
    return None


def collect_run(run_dir: str | Path) -> RunContents:
    """Read every stage output under `run_dir` (module docstring). Raises RunDirError if there is none."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: not a directory; expected a driftalign run directory holding {EXPECTED}")
    found = _scan(run_dir)
    if not found.any_output():
        raise RunDirError(f"{run_dir}: not a driftalign run directory; expected {EXPECTED}")
    dataset = _find_dataset(run_dir, found.configs)
    synthetic, source = _synthetic(dataset, found.flags)
    contents = RunContents(run_dir=run_dir, synthetic=synthetic, synthetic_source=source, dataset=dataset,
                           verdicts=summary_verdicts(found.summary), consensus=found.consensus,
                           ddsample=found.ddsample, benchmarks=found.benchmarks, run_config=_run_config(run_dir))
    if found.summary is not None:
        contents.timings = dict(found.summary.get("timings_s") or {})
    contents.students = _students(found, run_dir)
    if found.experiment is not None:
        contents.experiment = read_experiment(found.experiment, run_dir, contents.students)
        seeds = ", ".join(str(s) for s in found.experiment.get("seeds") or [])
        contents.success = success_check(found.experiment.get("success"), f"pooled over seeds {seeds}")
    elif found.summary is not None:
        contents.success = success_check(found.summary.get("success"), "on this run")
    contents.drift = _drift(found, run_dir, contents.notes)
    contents.training = _training(found, run_dir)
    contents.grpo = _grpo(found, contents.training)
    return contents


# ---- a multi-seed run: experiment.json ------------------------------------------------------------------

# experiment.json's columns of a student (`pipeline.experiment.COLUMNS`): accuracy per finding and average
ACCURACY_COLUMNS = (*MSCXRT_FINDINGS.values(), "Avg.")
_SEED_DIR = re.compile(r"seed-?\d+$")


def _seed_evals(students: list[StudentEval], split: str) -> dict[str, list[StudentEval]]:
    """The seeds' eval results of each run name ("seed-0/spd" -> "spd")."""
    per_seed: dict[str, list[StudentEval]] = {}
    for s in students:
        parts = s.name.split("/")
        if s.split == split and len(parts) == 2 and _SEED_DIR.match(parts[0]):
            per_seed.setdefault(parts[1], []).append(s)
    return per_seed


def _seed_row(name: str, cells: dict[str, Any], evals: list[StudentEval], seeds: list[Any],
              run_dir: Path) -> SeedRow:
    """One student of experiment.json, labelled from the first seed's training config; the drift errors by kind
    averaged over the seeds' eval JSONs (experiment.json keeps only the total)."""
    cfg = next((c for seed in seeds for d in (f"seed-{seed}", f"seed{seed}")
                if (c := _load_yaml(run_dir / d / name / CONFIG_FILE)) is not None), None)
    label, kind = describe_model(name, cfg, run_dir)
    by_kind = {}
    for k in ERROR_KINDS:
        values = [v for e in evals if isinstance(v := (e.metrics.get("drift_errors") or {}).get(k), (int, float))]
        if values:
            by_kind[k] = read_mean_std(mean_std(values))
    return SeedRow(name=name, label=label if label == name else f"{label} [{name}]", kind=kind,
                   seeds=cells.get("seeds") or len(evals) or len(seeds),
                   accuracy=tuple(read_mean_std(cells.get(c)) for c in ACCURACY_COLUMNS),
                   clinical_f1=read_mean_std(cells.get("clin. F1")),
                   drift_total=read_mean_std(cells.get("drift err/100")), drift_by_kind=by_kind)


def _pooled(v: dict[str, Any]) -> PooledComparison:
    seeds = v.get("seeds")
    return PooledComparison(run=str(v.get("run")), baseline=str(v.get("baseline")),
                            seeds=",".join(map(str, seeds)) if isinstance(seeds, list) else str(seeds or ""),
                            avg_accuracy=Interval.read(v.get("avg_accuracy")),
                            clinical_f1=Interval.read(v.get("clinical_f1")),
                            drift_errors_per_100=Interval.read(v.get("drift_errors_per_100")))


def _seed_table(rows: Any, columns: Any) -> SeedTable:
    """A DEER layout: {name: {"seeds": n, column: [mean, std]}}; the columns as the pipeline wrote them (`columns`),
    or, in an experiment.json written before it wrote them, the rows' own keys in order."""
    rows = rows if isinstance(rows, dict) else {}
    if not isinstance(columns, list):
        columns = list(dict.fromkeys(k for row in rows.values() if isinstance(row, dict) for k in row if k != "seeds"))
    return SeedTable(tuple(map(str, columns)), tuple(
        SeedTableRow(str(name), row.get("seeds"), tuple(read_mean_std(row.get(c)) for c in columns))
        for name, row in rows.items() if isinstance(row, dict)))


def read_deer(deer: Any) -> DeerTables | None:
    """experiment.json's `deer` (`pipeline.deer_tables`): DEER's Table 1 and Table 7 layouts."""
    if not isinstance(deer, dict) or not deer:
        return None
    columns = deer.get("columns") if isinstance(deer.get("columns"), dict) else {}
    return DeerTables(seeds=tuple(deer.get("seeds") or ()),
                      table1=_seed_table(deer.get("table1"), columns.get("table1")),
                      table7=_seed_table(deer.get("table7"), columns.get("table7")))


def read_experiment(obj: dict[str, Any], run_dir: Path, students: list[StudentEval]) -> Experiment:
    """experiment.json of `driftalign run` with `seeds:`: a row per student with its cells as (mean, std), the
    inherited gap, the pooled verdicts and then DEER's ablations between RL runs (same shape), DEER's layouts."""
    seeds = list(obj.get("seeds") or [])
    split = obj.get("split") or "test"
    per_seed = _seed_evals(students, split)
    rows = tuple(_seed_row(name, cells, per_seed.get(name, []), seeds, run_dir)
                 for name, cells in obj["students"].items())
    deer = obj.get("deer") if isinstance(obj.get("deer"), dict) else {}
    comparisons = tuple(_pooled(v) for v in [*(obj.get("verdicts") or []), *(deer.get("comparisons") or [])])
    gap = obj.get("inherited_gap")
    return Experiment(seeds=tuple(seeds), split=str(split), students=rows,
                      inherited_gap=gap if isinstance(gap, dict) else {}, comparisons=comparisons,
                      deer=read_deer(obj.get("deer")))
