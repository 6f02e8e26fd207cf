"""The typed records `collect_run` reads a run directory into (collect.py reads, html.py shows).

A stage's own JSON (an eval result, drift.json, a consensus summary, a DDSampling summary) is kept
as the stage wrote it, next to where it came from; what the report derives from the run summary and
a multi-seed experiment.json (verdicts, mean ± std rows, DEER's layouts) is typed here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SPLIT_PREFERENCE = ("test", "val", "external", "train", "all")
KIND_ORDER = ("oracle", "sft", "spd", "apo", "grpo", "other")   # rows of the students' table, top to bottom


@dataclass(frozen=True)
class Interval:
    """A paired-bootstrap difference with its 95% CI (`metrics.bootstrap`'s {"diff", "lo", "hi"})."""

    diff: float | None
    lo: float | None
    hi: float | None

    @classmethod
    def read(cls, obj: Any) -> Interval | None:
        if not isinstance(obj, dict):
            return None
        return cls(obj.get("diff"), obj.get("lo"), obj.get("hi"))


MeanStd = tuple[Any, Any]    # (mean, std) over seeds, as `metrics.aggregate.mean_std` writes them


def read_mean_std(obj: Any) -> MeanStd | None:
    """A [mean, std] pair of experiment.json, or None when `obj` is not one."""
    return (obj[0], obj[1]) if isinstance(obj, (list, tuple)) and len(obj) == 2 else None


# ---- one run's stage outputs --------------------------------------------------------------------------


@dataclass(frozen=True)
class StudentEval:
    """One `driftalign eval --json` result: a model's generated reports scored on one split."""

    name: str                  # run name, e.g. "spd", "apo-uniform", "seed0/spd-all"
    label: str                 # what the model is, read from its training config ("SPD (all teachers)")
    split: str
    metrics: dict[str, Any]    # the eval JSON
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
    summary: dict[str, Any]    # summary.json of `driftalign ddsample`


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
    avg_accuracy: Interval | None
    clinical_f1: Interval | None
    drift_errors_per_100: Interval | None


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
                           avg_accuracy=Interval.read(v.get("avg_accuracy") or {}),
                           clinical_f1=Interval.read(v.get("clinical_f1")),
                           drift_errors_per_100=Interval.read(v.get("drift_errors_per_100") or {})))
    return out


# ---- a multi-seed experiment (experiment.json of `driftalign run` with `seeds:`) ------------------------


@dataclass(frozen=True)
class SeedRow:
    """One student of a multi-seed run: its cells as (mean, std) over the seeds."""

    name: str                          # run name ("apo-uniform")
    label: str                         # what it is, from the first seed's config: "SPD + APO (...) [apo-uniform]"
    kind: str                          # KIND_ORDER
    seeds: Any                         # how many seeds the row averages
    accuracy: tuple[MeanStd | None, ...]   # per MS-CXR-T finding, then the average
    clinical_f1: MeanStd | None
    drift_total: MeanStd | None        # drift errors per 100 reports
    drift_by_kind: dict[str, MeanStd]  # by error kind, over the seeds' eval JSONs (experiment.json keeps the total)

    @property
    def oracle(self) -> bool:
        return self.label.startswith("oracle")


@dataclass(frozen=True)
class PooledComparison:
    """A paired bootstrap pooled over seeds: a verdict of the experiment or one of DEER's ablations."""

    run: str
    baseline: str
    seeds: str                         # "0,1,2"
    avg_accuracy: Interval | None
    clinical_f1: Interval | None
    drift_errors_per_100: Interval | None

    @property
    def name(self) -> str:
        return f"{self.run} − {self.baseline} (pooled)"


@dataclass(frozen=True)
class SeedTableRow:
    name: str
    seeds: Any
    cells: tuple[MeanStd | None, ...]  # aligned with the table's columns


@dataclass(frozen=True)
class SeedTable:
    columns: tuple[str, ...]
    rows: tuple[SeedTableRow, ...]


@dataclass(frozen=True)
class DeerTables:
    """DEER's Table 1 (report quality) and Table 7 (zero-variance groups), as `pipeline.deer_tables` wrote them."""

    seeds: tuple[Any, ...]
    table1: SeedTable
    table7: SeedTable


@dataclass(frozen=True)
class Experiment:
    seeds: tuple[Any, ...]
    split: str
    students: tuple[SeedRow, ...]
    inherited_gap: dict[str, float | None]       # oracle − spd per finding and "Avg." (mean over seeds)
    comparisons: tuple[PooledComparison, ...]    # the pooled verdicts, then DEER's ablations
    deer: DeerTables | None


@dataclass(frozen=True)
class SuccessCheck:
    """A pipeline file's pre-registered `success:` criterion as the run checked it (`pipeline/criterion.py`)."""

    run: str
    baseline: str
    line: str                  # the line the run printed: "RUN vs BASELINE: met|not met (each bound)"
    met: bool | None           # None: no verdict compared the two runs (not judged)
    scope: str                 # "pooled over seeds 0, 1, 2" | "on this run"


def success_check(obj: Any, scope: str) -> SuccessCheck | None:
    """The `success` entry of experiment.json / summary.json, when the run had a criterion."""
    if not isinstance(obj, dict) or "line" not in obj:
        return None
    met = obj.get("met")
    return SuccessCheck(run=str(obj.get("run", "?")), baseline=str(obj.get("baseline", "spd")), line=str(obj["line"]),
                        met=met if isinstance(met, bool) else None, scope=scope)


# ---- everything together -------------------------------------------------------------------------------


@dataclass
class RunContents:
    """Everything `collect_run` found; absent pieces are None / empty and explained in `notes`."""

    run_dir: Path
    synthetic: bool
    synthetic_source: str                    # what decided `synthetic`
    dataset: Path | None                     # the dataset directory the examples are drawn from
    verdicts: list[Verdict] = field(default_factory=list)      # OUT/summary.json of `driftalign run` / `demo`
    timings: dict[str, Any] = field(default_factory=dict)      # its stage timings (seconds)
    run_config: dict[str, Any] | None = None       # OUT/pipeline.yaml (or the earlier demo's config)
    experiment: Experiment | None = None
    success: SuccessCheck | None = None            # the pre-registered criterion (pooled when the run has seeds)
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

    def rel(self, p: Path) -> str:
        """`p` relative to the run directory when it is inside it."""
        return str(p.relative_to(self.run_dir)) if p.is_relative_to(self.run_dir) else str(p)
