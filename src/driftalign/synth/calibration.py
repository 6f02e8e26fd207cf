"""Calibration: do the simulated teachers' unhinted answers reproduce the APO paper's Table 2?

For each MS-CXR-T finding a *balanced set* is built from the world's truth sampler: `studies / 2`
positives (label 1 for the finding) and `studies / 2` negatives (finding absent), i.e.
`studies` truths per finding (2,000 by default, 10,000 in all). Hedged (uncertain) findings are
neither. Every teacher answers the unhinted prompt for that one finding; the answer *text* is
parsed with `teacher_text.parse_yes_no` (regex `teacher_text.ANSWER_LINE`:
"[marker] [**]Finding[**]: yes|no"), and

    accuracy = (sensitivity + specificity) / 2     (= plain accuracy on a balanced set)

is compared with Table 2. An answer the parser cannot read counts as wrong.

Stratified numbering (default): the positives of a set are renumbered calib-<finding>-pos-00000,
-00001, ... (negatives likewise), so each teacher's low-discrepancy decisions
(`teacher_unhinted`) sweep [0, 1) evenly over the set and the measured rates sit within ~0.01 of
the designed ones. `stratified=False` keeps the sampler's ids (a random subset of numbers per
class): the measurement then has ordinary Bernoulli noise (sd ~0.011 per cell at 2,000 studies).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from rich.progress import Progress

from driftalign.constants import MSCXRT_FINDINGS
from driftalign.errors import DriftalignError
from driftalign.synth.teacher_profiles import PAPER_TABLE2
from driftalign.synth.teacher_text import parse_yes_no
from driftalign.synth.teachers import TEACHER_NAMES, get_teacher, unhinted_prompt
from driftalign.synth.truth import StudyTruth

CALIBRATION_STREAM = 0xCA1B  # keeps calibration truths apart from a world's truths of the same seed
MAX_DRAWS_PER_STUDY = 200    # a finding rarer than 1 in 200 studies cannot be calibrated

TruthSampler = Callable[[np.random.Generator, str], StudyTruth]


def truth_sampler() -> TruthSampler:
    """The world's `sample_truth(rng, study_id)` (synth.world, else synth.sampling)."""
    try:
        from driftalign.synth.world import sample_truth
    except ImportError:
        try:
            from driftalign.synth.sampling import sample_truth
        except ImportError:
            raise DriftalignError("the synthetic world's truth sampler (driftalign.synth.world) is not installed") from None
    return sample_truth


@dataclass(frozen=True)
class BalancedSet:
    finding: str
    positives: list[StudyTruth]
    negatives: list[StudyTruth]


@dataclass(frozen=True)
class Cell:
    """One (teacher, finding) measurement."""

    sensitivity: float
    specificity: float
    unparsed: int

    @property
    def accuracy(self) -> float:
        return (self.sensitivity + self.specificity) / 2


def _slug(finding: str) -> str:
    return finding.lower().replace(" ", "-")


def _renumbered(truths: list[StudyTruth], finding: str, kind: str) -> list[StudyTruth]:
    return [replace(t, study_id=f"calib-{_slug(finding)}-{kind}-{k:05d}") for k, t in enumerate(truths)]


def build_balanced_sets(studies: int, seed: int, *, findings: Sequence[str] = tuple(MSCXRT_FINDINGS),
                        stratified: bool = True, sampler: TruthSampler | None = None) -> dict[str, BalancedSet]:
    """`studies // 2` positives and negatives per finding, drawn from one stream of world truths."""
    if studies < 2 or studies % 2:
        raise ValueError(f"studies must be an even number >= 2, got {studies}")
    sample = sampler or truth_sampler()
    half = studies // 2
    pos: dict[str, list[StudyTruth]] = {f: [] for f in findings}
    neg: dict[str, list[StudyTruth]] = {f: [] for f in findings}
    i = 0
    while any(len(pos[f]) < half or len(neg[f]) < half for f in findings):
        if i >= MAX_DRAWS_PER_STUDY * studies:
            short = [f for f in findings if len(pos[f]) < half]
            raise DriftalignError(f"only found {[len(pos[f]) for f in short]} positives of {short} in {i} sampled truths")
        truth = sample(np.random.default_rng([seed, CALIBRATION_STREAM, i]), f"calib-{i:07d}")
        labels, present = truth.labels(), truth.present()
        for f in findings:
            if labels[f] == 1 and len(pos[f]) < half:
                pos[f].append(truth)
            elif f not in present and len(neg[f]) < half:
                neg[f].append(truth)
        i += 1
    if stratified:
        return {f: BalancedSet(f, _renumbered(pos[f], f, "pos"), _renumbered(neg[f], f, "neg")) for f in findings}
    return {f: BalancedSet(f, pos[f], neg[f]) for f in findings}


def _rate(teacher: str, truths: list[StudyTruth], finding: str, expected: int, seed: int) -> tuple[float, int]:
    """Fraction of answers whose parsed yes/no equals `expected`, and how many could not be parsed."""
    prompt = unhinted_prompt([finding])
    sim = get_teacher(teacher)
    right = unparsed = 0
    for truth in truths:
        said = parse_yes_no(sim.answer(truth, prompt, seed=seed).text).get(finding)
        unparsed += said is None
        right += said == expected
    return right / len(truths), unparsed


def measure(sets: dict[str, BalancedSet], teachers: Sequence[str] = TEACHER_NAMES, *, seed: int = 0,
            show_progress: bool = True) -> dict[str, dict[str, Cell]]:
    """teacher -> finding -> measured Cell, from the parsed answer texts."""
    out: dict[str, dict[str, Cell]] = {t: {} for t in teachers}
    with Progress(disable=not show_progress, transient=True) as progress:
        task = progress.add_task("synthetic calibration", total=len(teachers) * len(sets))
        for teacher in teachers:
            for finding, bset in sets.items():
                sens, miss_p = _rate(teacher, bset.positives, finding, 1, seed)
                spec, miss_n = _rate(teacher, bset.negatives, finding, 0, seed)
                out[teacher][finding] = Cell(sens, spec, miss_p + miss_n)
                progress.advance(task)
    return out


def target(teacher: str, finding: str) -> float:
    return dict(zip(MSCXRT_FINDINGS, PAPER_TABLE2[teacher], strict=True))[finding]


def max_abs_deviation(cells: dict[str, dict[str, Cell]]) -> float:
    return max(abs(c.accuracy - target(t, f)) for t, row in cells.items() for f, c in row.items())


def calibrate(studies: int = 2000, seed: int = 0, *, stratified: bool = True,
              show_progress: bool = True) -> dict[str, dict[str, Cell]]:
    """Build the balanced sets and measure every teacher on them."""
    sets = build_balanced_sets(studies, seed, stratified=stratified)
    return measure(sets, seed=seed, show_progress=show_progress)


# ---------------------------------------------------------------------------------------------
# The method's premise: a claim-level majority over the teachers drifts less than any one of them.

ClaimKey = tuple[str, int, "str | None"]


def claim_keys(claims: list[dict]) -> set[ClaimKey]:
    """(finding, polarity, side) of a trajectory's claims."""
    return {(c["finding"], int(c["polarity"]), c.get("side")) for c in claims}


def majority_keys(per_teacher: list[set[ClaimKey]]) -> set[ClaimKey]:
    """Keys asserted by more than half of the (non-refusing) teachers given."""
    counts: dict[ClaimKey, int] = {}
    for keys in per_teacher:
        for k in keys:
            counts[k] = counts.get(k, 0) + 1
    return {k for k, n in counts.items() if n > len(per_teacher) / 2}


def claim_errors(keys: set[ClaimKey], truth: StudyTruth) -> int:
    """Spurious or wrong claims vs the truth: a present claim of an absent finding, a present claim
    with the wrong side, a negative claim of a present finding, 'No Finding' on an abnormal study."""
    present = truth.present()
    abnormal = bool(present - {"Support Devices"})
    errors = 0
    for finding, polarity, side in keys:
        if finding == "No Finding":
            errors += polarity == 1 and abnormal
        elif polarity == 0:
            errors += finding in present
        elif finding not in present:
            errors += 1
        else:
            true_side = truth.finding(finding).side
            errors += side is not None and true_side is not None and side != true_side
    return errors


@dataclass(frozen=True)
class PremiseResult:
    """Mean spurious-or-wrong claims per study: each teacher's trajectory vs the majority."""

    studies: int
    teacher_errors: dict[str, float]
    majority_errors: float


def premise_check(truths: Sequence[StudyTruth], seed: int = 0,
                  teachers: Sequence[str] = TEACHER_NAMES) -> PremiseResult:
    """Hinted answers of every teacher per study; majority over the non-refusing ones (> half)."""
    from driftalign.synth.teachers import hinted_prompt

    totals = dict.fromkeys(teachers, 0)
    majority_total = 0
    for truth in truths:
        prompt = hinted_prompt(truth)
        answers = {t: get_teacher(t).answer(truth, prompt, seed=seed).meta for t in teachers}
        for t, meta in answers.items():
            totals[t] += claim_errors(claim_keys(meta["claims"]), truth)
        voters = [claim_keys(m["claims"]) for m in answers.values() if not m["refusal"]]
        majority_total += claim_errors(majority_keys(voters), truth) if voters else 0
    n = max(len(truths), 1)
    return PremiseResult(len(truths), {t: v / n for t, v in totals.items()}, majority_total / n)


def world_truths(n: int, seed: int, split: str = "test") -> list[StudyTruth]:
    """The truths of one split of an n-study world (the world's `sample_truths`, no images)."""
    try:
        from driftalign.synth.world import sample_truths
    except ImportError:
        from driftalign.synth.sampling import sample_truths
    return [truth for truth, s in sample_truths(n, seed) if s == split]
