"""Step-wise multi-stream drift (APO Definition 2.2), measured along the reasoning.

Each trajectory is split into steps (`steps.split_steps`). A step has an absolute position (its
index j = 0, 1, ...) and a relative one (its window w of W equal bins of the normalised position
(j + 0.5) / n). For every position p (on either axis) we measure:

(a) embedding drift   D_emb(p) = mean over studies s with >= 2 teachers at p of
                      mean over teacher pairs (u, v) of 1 - cos(e_u(s, p), e_v(s, p)),
    e_u(s, p) = the mean MiniLM embedding of teacher u's steps of study s at p (one step on the
    index axis);
(b) assertion drift   D_js(p) = mean over teacher pairs of JS(q_u(p) || q_v(p)) in bits, where
    q_u(p) is the distribution over the findings in scope (13 by default) of teacher u's positive assertions in steps at
    p, pooled over studies (teachers with no assertion at p are left out);
(c) event density     rho(p) = recorded drift events located in steps at p / steps at p
    (only when trajectories carry meta["drift_events"]).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from driftalign.drift.agreement import mean_pairwise_cosine_distance, mean_pairwise_js
from driftalign.drift.answers import FINDINGS, Answer
from driftalign.drift.events import locate_event, recorded_events
from driftalign.drift.steps import position_window

Position = Callable[[int, int], int | None]  # (step index, number of steps) -> position or None


@dataclass(frozen=True)
class StepDriftPoint:
    axis: str                    # "index" | "window"
    position: int
    label: str                   # "1", "2", ... or "0.0-0.2", ...
    n_steps: int                 # steps at this position, all teachers and studies
    n_studies: int               # studies with >= 2 teachers at this position
    embedding_distance: float    # (a)
    assertion_js: float          # (b)
    assertions_per_step: float
    event_density: float         # (c); NaN without recorded events
    teacher_assertions: dict[str, dict[str, int]] = field(default_factory=dict)
    teacher_event_density: dict[str, float] = field(default_factory=dict)


def index_position(max_steps: int) -> Position:
    """Absolute axis: step j itself, for j < max_steps."""
    return lambda j, n: j if j < max_steps else None


def window_position(windows: int) -> Position:
    """Relative axis: the window of the step's normalised position."""
    return lambda j, n: position_window(j, n, windows)


def _answer_positions(answer: Answer, position: Position) -> dict[int, list[int]]:
    out: dict[int, list[int]] = defaultdict(list)
    for j in range(len(answer.steps)):
        p = position(j, len(answer.steps))
        if p is not None:
            out[p].append(j)
    return out


def _mean_vector(answer: Answer, step_ids: list[int], vectors: dict[str, np.ndarray]) -> np.ndarray:
    if len(step_ids) == 1:  # the index axis: one step per position (skips np.mean's overhead)
        return vectors[answer.steps[step_ids[0]].text]
    return np.mean([vectors[answer.steps[j].text] for j in step_ids], axis=0)


class _Accumulator:
    """Sums for one position: distances per study, assertion counts and events per teacher."""

    def __init__(self) -> None:
        self.distances: list[float] = []
        self.assertions: dict[str, Counter[str]] = defaultdict(Counter)
        self.steps: Counter[str] = Counter()
        self.events: Counter[str] = Counter()


def _accumulate(
    studies: dict[str, list[Answer]], position: Position, vectors: dict[str, np.ndarray] | None
) -> dict[int, _Accumulator]:
    acc: dict[int, _Accumulator] = defaultdict(_Accumulator)
    for answers in studies.values():
        per_pos_vectors: dict[int, list[np.ndarray]] = defaultdict(list)
        for a in answers:
            positions = _answer_positions(a, position)
            located = Counter(locate_event(a, e) for e in recorded_events(a))
            for p, step_ids in positions.items():
                acc[p].steps[a.teacher] += len(step_ids)
                acc[p].events[a.teacher] += sum(located[j] for j in step_ids)
                for j in step_ids:
                    acc[p].assertions[a.teacher].update(a.step_asserted[j])
                if vectors is not None:
                    per_pos_vectors[p].append(_mean_vector(a, step_ids, vectors))
        for p, vecs in per_pos_vectors.items():
            if len(vecs) >= 2:
                acc[p].distances.append(mean_pairwise_cosine_distance(np.stack(vecs)))
    return acc


def _point(axis: str, p: int, label: str, a: _Accumulator, teachers: Sequence[str], with_events: bool,
           findings: Sequence[str]) -> StepDriftPoint:
    n_steps = sum(a.steps.values())
    dists = [np.array([a.assertions[t][f] for f in findings], dtype=float) for t in teachers]
    n_assert = sum(sum(c.values()) for c in a.assertions.values())
    nan = float("nan")
    return StepDriftPoint(
        axis=axis,
        position=p,
        label=label,
        n_steps=n_steps,
        n_studies=len(a.distances),
        embedding_distance=float(np.mean(a.distances)) if a.distances else nan,
        assertion_js=mean_pairwise_js(dists),
        assertions_per_step=n_assert / n_steps if n_steps else nan,
        event_density=(sum(a.events.values()) / n_steps if n_steps else nan) if with_events else nan,
        teacher_assertions={t: {f: a.assertions[t][f] for f in findings if a.assertions[t][f]} for t in teachers},
        teacher_event_density={
            t: (a.events[t] / a.steps[t] if a.steps[t] else nan) if with_events else nan for t in teachers
        },
    )


def step_drift(
    answers: Sequence[Answer],
    vectors: dict[str, np.ndarray] | None,
    *,
    max_steps: int,
    windows: int,
    with_events: bool,
    findings: Sequence[str] = FINDINGS,
) -> list[StepDriftPoint]:
    """The drift curve on both axes: step index 0..max_steps-1, then windows 0..windows-1.

    `vectors` maps each step text to its embedding (None: skip the embedding measure).
    """
    studies: dict[str, list[Answer]] = defaultdict(list)
    for a in answers:
        studies[a.study_id].append(a)
    teachers = sorted({a.teacher for a in answers})
    points = []
    by_index = _accumulate(studies, index_position(max_steps), vectors)
    for p in sorted(by_index):
        points.append(_point("index", p, str(p + 1), by_index[p], teachers, with_events, findings))
    by_window = _accumulate(studies, window_position(windows), vectors)
    for p in range(windows):
        label = f"{p / windows:.1f}-{(p + 1) / windows:.1f}"
        points.append(_point("window", p, label, by_window.get(p, _Accumulator()), teachers, with_events, findings))
    return points

