"""Agreement between teachers on what they assert: pairwise Cohen's kappa, per-finding Fleiss' kappa.

A *decision* is asserted / not asserted for one (study, finding). Pairwise kappa uses every
(study, finding) both teachers answered (the findings in scope: 13 by default); Fleiss' kappa of a finding uses the
studies that every teacher answered (Fleiss needs the same raters per subject).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from driftalign.drift.agreement import binary_counts, cohen_kappa, fleiss_kappa
from driftalign.drift.answers import FINDINGS, Answer


@dataclass(frozen=True)
class PairKappa:
    teacher_a: str
    teacher_b: str
    kappa: float
    n_decisions: int


@dataclass(frozen=True)
class FindingKappa:
    finding: str
    kappa: float
    n_studies: int
    positive_rate: float  # share of "asserted" decisions (kappa is unstable when this is near 0 or 1)


def _decisions(answer: Answer, findings: Sequence[str]) -> list[int]:
    return [int(f in answer.asserted) for f in findings]


def pairwise_kappa(by_teacher: dict[str, dict[str, Answer]], findings: Sequence[str] = FINDINGS) -> list[PairKappa]:
    """Cohen's kappa for every teacher pair over their shared (study, finding) decisions."""
    out = []
    for a, b in itertools.combinations(sorted(by_teacher), 2):
        shared = sorted(set(by_teacher[a]) & set(by_teacher[b]))
        da = [d for s in shared for d in _decisions(by_teacher[a][s], findings)]
        db = [d for s in shared for d in _decisions(by_teacher[b][s], findings)]
        kappa = cohen_kappa(np.array(da), np.array(db)) if shared else float("nan")
        out.append(PairKappa(a, b, kappa, len(da)))
    return out


def fleiss_by_finding(by_teacher: dict[str, dict[str, Answer]], findings: Sequence[str] = FINDINGS) -> list[FindingKappa]:
    """Fleiss' kappa per finding over the studies answered by all teachers (needs >= 2 teachers)."""
    teachers = sorted(by_teacher)
    if len(teachers) < 2:
        return []
    common = sorted(set.intersection(*(set(by_teacher[t]) for t in teachers)))
    out = []
    for finding in findings:
        if not common:
            out.append(FindingKappa(finding, float("nan"), 0, float("nan")))
            continue
        decisions = np.array([[int(finding in by_teacher[t][s].asserted) for t in teachers] for s in common])
        out.append(FindingKappa(finding, fleiss_kappa(binary_counts(decisions)), len(common), float(decisions.mean())))
    return out
