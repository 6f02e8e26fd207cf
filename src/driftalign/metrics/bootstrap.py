"""Paired bootstrap confidence intervals of a difference between two students on the same studies.

    outcomes = study_outcomes(texts, studies)          # per-study quantities of one student
    paired_bootstrap([(a, b)], n_boot=2000, seed=0)    # CI of (a - b), pooled over one or more seeds

Per study, `StudyOutcomes` keeps what each metric averages: for every MS-CXR-T finding whether the
report's label is right (on eval's balanced subset of that finding), the example-based clinical F1
(`metrics.clinical.report_f1`, the mean of which is eval's `clinical.example_based.f1`) and the
number of drift errors (`drift.errors`, whose mean x 100 is eval's `drift_errors.total`). So the
point estimates equal what `driftalign eval` prints.

Resampling (paired: the same resampled studies for both students):
* average balanced accuracy: per finding, its balanced subset's positives and negatives are
  resampled separately (stratified; sizes kept), accuracy = (mean correct on positives + mean
  correct on negatives) / 2 (= eval's balanced accuracy on the original sample), then the mean of
  the five findings;
* clinical F1 and drift errors per 100 reports: the test studies are resampled with replacement.
With several seeds (one world and one pair of students per seed), each bootstrap draw resamples
every seed's studies independently and averages the seed differences: the CI of the mean
difference over seeds, with the seeds' worlds as fixed strata.
Interval: the percentile interval [2.5%, 97.5%] of the draws.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from driftalign.constants import MSCXRT_FINDINGS
from driftalign.data.schema import Study
from driftalign.drift.errors import drift_errors
from driftalign.labeling import label_reports
from driftalign.metrics.accuracy import balanced_indices
from driftalign.metrics.clinical import report_f1

METRICS: tuple[str, ...] = ("avg_accuracy", "clinical_f1", "drift_errors_per_100")


@dataclass(frozen=True)
class StudyOutcomes:
    """Per-study quantities of one student on a fixed list of studies (see module docstring)."""

    study_ids: tuple[str, ...]
    correct: dict[str, np.ndarray]           # finding -> [n] 1/0 (right or not), only meaningful on `balanced`
    positive: dict[str, np.ndarray]          # finding -> indices of its balanced subset's positives
    negative: dict[str, np.ndarray]          # finding -> indices of its balanced subset's negatives
    f1: np.ndarray                           # [n] example-based clinical F1
    errors: np.ndarray                       # [n] drift errors (all kinds)

    def point(self) -> dict[str, float]:
        return _estimate(self, None)


def study_outcomes(texts: Sequence[str], studies: Sequence[Study]) -> StudyOutcomes:
    """Label `texts` (one per study, same order) and keep each metric's per-study quantity."""
    if len(texts) != len(studies):
        raise ValueError(f"{len(texts)} texts but {len(studies)} studies")
    ids = [s.study_id for s in studies]
    pred = label_reports(list(texts))
    refs = label_reports([s.report for s in studies])
    ref_labels = [rl if s.report else s.labels for s, rl in zip(studies, refs)]
    correct, positive, negative = {}, {}, {}
    for finding in MSCXRT_FINDINGS:
        keep = [i for i, s in enumerate(studies) if s.labels.get(finding) != -1]
        y = [1 if studies[i].labels.get(finding) == 1 else 0 for i in keep]
        chosen = [keep[j] for j in balanced_indices(finding, [ids[i] for i in keep], y)]
        yhat = np.array([1 if p.get(finding) == 1 else 0 for p in pred])
        truth = np.array([1 if s.labels.get(finding) == 1 else 0 for s in studies])
        correct[finding] = (yhat == truth).astype(np.float64)
        positive[finding] = np.array([i for i in chosen if truth[i] == 1], dtype=np.int64)
        negative[finding] = np.array([i for i in chosen if truth[i] == 0], dtype=np.int64)
    f1 = np.array([report_f1(p, r) for p, r in zip(pred, ref_labels)])
    errors = np.array([e.total for e in drift_errors(list(texts), list(studies))], dtype=np.float64)
    return StudyOutcomes(tuple(ids), correct, positive, negative, f1, errors)


def _estimate(o: StudyOutcomes, draw: dict[str, np.ndarray] | None) -> dict[str, float]:
    """Metrics of `o` on the resample `draw` (None: the original sample)."""
    accs = []
    for f in MSCXRT_FINDINGS:
        pos, neg = o.positive[f], o.negative[f]
        if len(pos) == 0 or len(neg) == 0:
            continue
        if draw is not None:
            pos, neg = pos[draw[f"{f}/pos"]], neg[draw[f"{f}/neg"]]
        accs.append(0.5 * (o.correct[f][pos].mean() + o.correct[f][neg].mean()))
    rows = slice(None) if draw is None else draw["studies"]
    return {"avg_accuracy": float(np.mean(accs)) if accs else float("nan"),
            "clinical_f1": float(o.f1[rows].mean()),
            "drift_errors_per_100": float(100.0 * o.errors[rows].mean())}


def _draw(o: StudyOutcomes, rng: np.random.Generator) -> dict[str, np.ndarray]:
    draw = {"studies": rng.integers(0, len(o.study_ids), size=len(o.study_ids))}
    for f in MSCXRT_FINDINGS:
        draw[f"{f}/pos"] = rng.integers(0, max(len(o.positive[f]), 1), size=len(o.positive[f]))
        draw[f"{f}/neg"] = rng.integers(0, max(len(o.negative[f]), 1), size=len(o.negative[f]))
    return draw


def paired_bootstrap(pairs: Sequence[tuple[StudyOutcomes, StudyOutcomes]], n_boot: int = 2000,
                     seed: int = 0) -> dict[str, dict[str, float]]:
    """{metric: {"diff", "lo", "hi"}} of mean over pairs of (a - b); a and b of a pair on the same studies."""
    for a, b in pairs:
        if a.study_ids != b.study_ids:
            raise ValueError("paired bootstrap needs both students' outcomes on the same studies, in order")
    rng = np.random.default_rng(seed)
    point = {m: float(np.mean([a.point()[m] - b.point()[m] for a, b in pairs])) for m in METRICS}
    draws = np.zeros((n_boot, len(METRICS)))
    for k in range(n_boot):
        diffs = []
        for a, b in pairs:
            d = _draw(a, rng)
            ea, eb = _estimate(a, d), _estimate(b, d)
            diffs.append([ea[m] - eb[m] for m in METRICS])
        draws[k] = np.mean(diffs, axis=0)
    lo, hi = np.percentile(draws, [2.5, 97.5], axis=0)
    return {m: {"diff": point[m], "lo": float(lo[j]), "hi": float(hi[j])} for j, m in enumerate(METRICS)}
