"""`DriftReport`: everything `measure_drift` found, as one object with a stable JSON form."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from driftalign.drift.between import FindingKappa, PairKappa
from driftalign.drift.stepwise import StepDriftPoint
from driftalign.drift.teacher_metrics import TeacherMetrics

REPORT_VERSION = 1


def clean_numbers(obj: Any) -> Any:
    """Recursively turn NaN/inf into None (JSON has no NaN) and round floats to 6 decimals."""
    if isinstance(obj, float):
        return round(obj, 6) if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: clean_numbers(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [clean_numbers(v) for v in obj]
    return obj


@dataclass
class DriftReport:
    dataset: str
    split: str
    synthetic: bool
    teachers: list[str]
    n_studies: int
    n_trajectories: int
    per_teacher: list[TeacherMetrics]
    pairwise_kappa: list[PairKappa]
    fleiss_kappa: list[FindingKappa]
    step_drift: list[StepDriftPoint]
    recorded_events: dict[str, dict[str, int]]   # teacher -> event type -> count ({} if none recorded)
    accuracy_findings: list[str]
    findings: list[str] = field(default_factory=list)   # findings in scope for P/R, kappa, JS
    settings: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    duplicates_ignored: int = 0

    def teacher(self, name: str) -> TeacherMetrics:
        for m in self.per_teacher:
            if m.teacher == name:
                return m
        raise KeyError(name)

    def accuracy_gaps(self) -> dict[str, float]:
        """Per finding: best minus worst teacher accuracy (the paper reports gaps up to 0.7)."""
        gaps = {}
        for f in self.accuracy_findings:
            accs = [m.finding_accuracy[f] for m in self.per_teacher if math.isfinite(m.finding_accuracy[f])]
            gaps[f] = max(accs) - min(accs) if len(accs) >= 2 else float("nan")
        return gaps

    def to_dict(self) -> dict[str, Any]:
        """The drift.json document (stable keys; NaN written as null)."""
        return clean_numbers({
            "version": REPORT_VERSION,
            "synthetic": self.synthetic,
            "dataset": self.dataset,
            "split": self.split,
            "teachers": self.teachers,
            "n_studies": self.n_studies,
            "n_trajectories": self.n_trajectories,
            "duplicates_ignored": self.duplicates_ignored,
            "findings": self.findings,
            "accuracy_findings": self.accuracy_findings,
            "per_teacher": {m.teacher: asdict(m) for m in self.per_teacher},
            "accuracy_gap": self.accuracy_gaps(),
            "pairwise_kappa": [asdict(k) for k in self.pairwise_kappa],
            "fleiss_kappa": {k.finding: asdict(k) for k in self.fleiss_kappa},
            "step_drift": {
                "index": [asdict(p) for p in self.step_drift if p.axis == "index"],
                "window": [asdict(p) for p in self.step_drift if p.axis == "window"],
            },
            "recorded_events": self.recorded_events,
            "settings": self.settings,
            "timings_s": self.timings,
        })
