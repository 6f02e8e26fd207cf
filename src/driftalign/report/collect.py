"""What a finished run directory holds, read into typed records for the HTML report.

A run directory is whatever the stages wrote into one folder: `driftalign demo`'s layout
(`summary.json`, `eval/`, `preds/`, `drift/`, `consensus/`, `world/`, one folder per trained model),
a multi-seed experiment's (`experiment.json` + `seed-N/` runs of `driftalign run` with `seeds:`, or the
earlier `table.json` + `settings.json` + `seed<N>/{metrics,predictions,world,...}`), or
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

from driftalign.data.io import read_jsonl
from driftalign.errors import DatasetError, DriftalignError

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
SPLIT_PREFERENCE = ("test", "val", "external", "train", "all")
KIND_ORDER = ("oracle", "sft", "spd", "apo", "grpo", "other")   # rows of the students' table, top to bottom


class RunDirError(DriftalignError):
    """RUN_DIR is missing or holds no output of a driftalign stage."""


EXPECTED = ("summary.json (driftalign run / demo), experiment.json (a multi-seed run), eval/*.json (driftalign eval "
            "--json), drift/drift.json (driftalign drift), a ddsample or grpo output directory, or a bench_*.json")


# ---- records -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StudentEval:
    """One `driftalign eval --json` result: a model's generated reports scored on one split."""

    name: str                  # run name, e.g. "spd", "apo-uniform", "seed0/spd-all"
    label: str                 # what the model is, read from its training config ("SPD (all teachers)")
    split: str
    metrics: dict[str, Any]
    path: Path
    preds: Path | None         # the PRED.jsonl it scored, when found
    oracle: bool               # SPD on the reference reports: the ceiling row
    dataset: Path | None       # the dataset its model was trained on (from its config), when known
    kind: str = "other"        # oracle | sft | spd | apo | grpo | other (table order)


@dataclass(frozen=True)
class DriftOutputs:
    dir: Path
    report: dict[str, Any]     # drift.json
    plots: tuple[Path, ...]


@dataclass(frozen=True)
class ConsensusOutputs:
    path: Path                 # CONSENSUS.jsonl
    summary: dict[str, Any]    # its .summary.json (strategy, rows, quality)

    @property
    def strategy(self) -> str:
        return str(self.summary.get("strategy", "?"))


@dataclass(frozen=True)
class TrainingLog:
    name: str                  # the stage's output directory, relative to the run
    path: Path
    rows: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class DDSampleOutputs:
    dir: Path
    summary: dict[str, Any]


@dataclass(frozen=True)
class GRPOOutputs:
    dir: Path
    data: dict[str, Any]       # grpo_data.json
    config: dict[str, Any] | None
    log: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class Benchmark:
    path: Path
    rows: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class Verdict:
    """One paired-bootstrap comparison of the run summary: did `run` beat `baseline` on this run?"""

    run: str
    baseline: str
    beat: bool
    avg_accuracy: dict[str, float]
    clinical_f1: dict[str, float] | None
    drift_errors_per_100: dict[str, float]


def summary_verdicts(summary: dict[str, Any] | None) -> list[Verdict]:
    """The verdicts of a run summary, in either layout (`verdicts` of `driftalign run`, `apo_vs_spd` before)."""
    if not summary:
        return []
    out = []
    for v in summary.get("verdicts") or summary.get("apo_vs_spd") or []:
        if not isinstance(v, dict):
            continue
        out.append(Verdict(run=str(v.get("run", "?")), baseline=str(v.get("baseline", "spd")),
                           beat=bool(v.get("beat_baseline", v.get("beat_spd", False))),
                           avg_accuracy=v.get("avg_accuracy") or {}, clinical_f1=v.get("clinical_f1"),
                           drift_errors_per_100=v.get("drift_errors_per_100") or {}))
    return out


@dataclass
class RunContents:
    """Everything `collect_run` found; absent pieces are None / empty and explained in `notes`."""

    run_dir: Path
    synthetic: bool
    synthetic_source: str                    # what decided `synthetic`
    dataset: Path | None                     # the dataset directory the examples are drawn from
    demo_summary: dict[str, Any] | None = None      # OUT/summary.json of `driftalign run` / `demo`
    run_config: dict[str, Any] | None = None       # OUT/pipeline.yaml (or the earlier demo's config)
    experiment: dict[str, Any] | None = None   # a multi-seed table, in table.json's shape (`normalize_experiment`)
    experiment_settings: dict[str, Any] | None = None
    students: list[StudentEval] = field(default_factory=list)
    drift: DriftOutputs | None = None
    consensus: list[ConsensusOutputs] = field(default_factory=list)
    training: list[TrainingLog] = field(default_factory=list)
    ddsample: list[DDSampleOutputs] = field(default_factory=list)
    grpo: list[GRPOOutputs] = field(default_factory=list)
    benchmarks: list[Benchmark] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def students_by_split(self) -> dict[str, list[StudentEval]]:
        """Students grouped by split, the test split first, oracle rows first within a split."""
        groups: dict[str, list[StudentEval]] = {}
        for s in self.students:
            groups.setdefault(s.split, []).append(s)
        order = sorted(groups, key=lambda sp: (SPLIT_PREFERENCE.index(sp) if sp in SPLIT_PREFERENCE else 99, sp))
        return {sp: sorted(groups[sp], key=lambda s: (KIND_ORDER.index(s.kind), s.name)) for sp in order}


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
    """table.json of the earlier APO experiment script, or experiment.json of `driftalign run` with `seeds:`."""
    if not isinstance(obj, dict):
        return False
    return ({"students", "teachers", "seeds_per_row"} <= obj.keys()
            or ({"seeds", "students", "verdicts", "inherited_gap"} <= obj.keys() and isinstance(obj["students"], dict)))


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
    """(label, kind) of a trained model from its saved config; kind is one of KIND_ORDER.
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


def collect_run(run_dir: str | Path) -> RunContents:
    """Read every stage output under `run_dir` (module docstring). Raises RunDirError if there is none."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: not a directory; expected a driftalign run directory holding {EXPECTED}")
    evals: list[tuple[Path, dict[str, Any]]] = []
    preds: dict[Path, str] = {}
    drift: list[tuple[Path, dict[str, Any]]] = []
    consensus: list[ConsensusOutputs] = []
    logs: list[Path] = []
    ddsample: list[DDSampleOutputs] = []
    grpo_files: list[tuple[Path, dict[str, Any]]] = []
    benchmarks: list[Benchmark] = []
    configs: list[dict[str, Any]] = []
    demo_summary = experiment = None
    flags: list[bool] = []

    for path in _walk(run_dir):
        if path.suffix == ".jsonl":
            if path.name == "trainer_log.jsonl":
                logs.append(path)
            elif {path.parent.name, path.parent.parent.name} & PREDICTION_DIRS and _looks_like_predictions(path):
                preds[path] = path.stem
            continue
        if path.name == CONFIG_FILE:
            if (cfg := _load_yaml(path)) is not None:
                configs.append(cfg)
            continue
        if path.suffix != ".json" or path.name.endswith(".key.json"):
            continue
        obj = _load_json(path)
        if obj is None:
            continue
        if isinstance(obj, dict) and isinstance(obj.get("synthetic"), bool):
            flags.append(obj["synthetic"])
        if _is_eval(obj):
            evals.append((path, obj))
        elif _is_drift(obj):
            drift.append((path, obj))
        elif _is_experiment(obj) and path.parent == run_dir:
            experiment = obj
        elif _is_demo_summary(obj) and path.parent == run_dir:
            demo_summary = obj
        elif _is_ddsample(obj):
            ddsample.append(DDSampleOutputs(path.parent, obj))
        elif _is_consensus_summary(obj) and path.name.endswith(".summary.json"):
            jsonl = path.with_name(path.name.removesuffix(".summary.json") + ".jsonl")
            if jsonl.is_file():
                consensus.append(ConsensusOutputs(jsonl, obj))
        elif path.name == "grpo_data.json" and isinstance(obj, dict):
            grpo_files.append((path, obj))
        elif path.name.startswith("bench") and (rows := _benchmark_rows(obj)) is not None:
            benchmarks.append(Benchmark(path, tuple(rows)))

    found = evals or drift or experiment or demo_summary or ddsample or grpo_files or benchmarks
    if not found:
        raise RunDirError(f"{run_dir}: not a driftalign run directory; expected {EXPECTED}")

    dataset = _find_dataset(run_dir, configs)
    synthetic, source = _synthetic(dataset, flags)
    contents = RunContents(run_dir=run_dir, synthetic=synthetic, synthetic_source=source, dataset=dataset,
                           demo_summary=demo_summary, experiment=experiment, consensus=consensus,
                           ddsample=ddsample, benchmarks=benchmarks)
    for name in RUN_CONFIG_FILES:
        if (run_dir / name).is_file():
            contents.run_config = _load_yaml(run_dir / name)
            break
    for path, obj in evals:
        split = str(obj.get("split", "test"))
        name = _run_name(path, run_dir, split)
        cfg = _model_config(path, run_dir)
        label, kind = describe_model(name, cfg, run_dir)
        contents.students.append(StudentEval(
            name=name, label=label, split=split, metrics=obj, path=path,
            preds=_predictions_for(path, split, preds), oracle=kind == "oracle",
            dataset=(_resolve(cfg.get("data"), run_dir) if cfg else None) or _nearest_world(path, run_dir), kind=kind))

    if experiment is not None:
        if "seeds_per_row" not in experiment:
            contents.experiment = normalize_experiment(experiment, run_dir, contents.students)
        settings = _load_json(run_dir / "settings.json")
        contents.experiment_settings = settings if isinstance(settings, dict) else contents.experiment.get("settings")

    if drift:
        path, obj = min(drift, key=lambda d: len(d[0].relative_to(run_dir).parts))
        plots = tuple(sorted(path.parent.glob("*.png"), key=lambda p: (PLOT_ORDER.index(p.name) if p.name in PLOT_ORDER
                                                                        else len(PLOT_ORDER), p.name)))
        contents.drift = DriftOutputs(path.parent, obj, plots)
        if len(drift) > 1:
            contents.notes.append(f"{len(drift)} drift.json files found; showing {path.relative_to(run_dir)}")

    for path in logs:
        rows = tuple(_jsonl_rows(path))
        if rows:
            contents.training.append(TrainingLog(str(path.parent.relative_to(run_dir)), path, rows))

    for path, data in grpo_files:
        log = next((t.rows for t in contents.training if t.path.parent == path.parent), ())
        contents.grpo.append(GRPOOutputs(path.parent, data, _load_yaml(path.parent / CONFIG_FILE), log))
    return contents


# ---- multi-seed tables ---------------------------------------------------------------------------------

# experiment.json column -> the key of the same cell in table.json's rows
_EXPERIMENT_KEYS = {"clin. F1": "clinical_f1", "drift err/100": "err/total"}
_SEED_DIR = re.compile(r"seed-?\d+$")


def _mean_std(values: list[float]) -> list[float]:
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1) if len(values) > 1 else 0.0
    return [mean, var ** 0.5]


def normalize_experiment(obj: dict[str, Any], run_dir: Path, students: list[StudentEval]) -> dict[str, Any]:
    """experiment.json of `driftalign run` with `seeds:` in table.json's shape: rows with the paper's cells as
    [mean, std], a label from the first seed's training config, the drift errors by kind averaged over the
    seeds' eval JSONs (experiment.json keeps only the total), the pooled verdicts as `bootstrap` rows."""
    seeds = list(obj.get("seeds") or [])
    split = obj.get("split") or "test"
    per_seed: dict[str, list[StudentEval]] = {}
    for s in students:
        parts = s.name.split("/")
        if s.split == split and len(parts) == 2 and _SEED_DIR.match(parts[0]):
            per_seed.setdefault(parts[1], []).append(s)
    rows = []
    for name, cells in obj["students"].items():
        cfg = next((c for seed in seeds for d in (f"seed-{seed}", f"seed{seed}")
                    if (c := _load_yaml(run_dir / d / name / CONFIG_FILE)) is not None), None)
        label, kind = describe_model(name, cfg, run_dir)
        row: dict[str, Any] = {"name": label if label == name else f"{label} [{name}]", "kind": kind}
        for col, pair in cells.items():
            row[_EXPERIMENT_KEYS.get(col, col)] = pair
        evals = per_seed.get(name, [])
        row["seeds"] = cells.get("seeds") or len(evals) or len(seeds)
        for k in ("invented", "wrong_side", "overgeneralisation", "wrong_location", "sign"):
            values = [v for e in evals if isinstance(v := (e.metrics.get("drift_errors") or {}).get(k), (int, float))]
            if values:
                row[f"err/{k}"] = _mean_std(values)
        rows.append(row)
    deer = obj.get("deer") if isinstance(obj.get("deer"), dict) else None
    bootstrap = []
    # the pooled verdicts, then DEER's ablations between RL runs (same shape)
    for v in [*(obj.get("verdicts") or []), *((deer or {}).get("comparisons") or [])]:
        seeds_of = v.get("seeds")
        seeds_txt = ",".join(map(str, seeds_of)) if isinstance(seeds_of, list) else str(seeds_of or "")
        bootstrap.append({"name": f"{v.get('run')} − {v.get('baseline')} (pooled)", "seeds": seeds_txt,
                          **{k: v.get(k) for k in ("avg_accuracy", "clinical_f1", "drift_errors_per_100")}})
    return {"synthetic": obj.get("synthetic"), "settings": {"seeds": seeds, "split": split}, "students": rows,
            "teachers": [], "inherited_gap": obj.get("inherited_gap"), "bootstrap": bootstrap, "deer": deer}
