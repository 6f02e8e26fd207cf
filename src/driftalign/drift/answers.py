"""One teacher answer, prepared for measurement: labelled findings, steps, per-step findings.

Everything the drift measures is computed from these `Answer` objects, so labelling and step
splitting happen exactly once per text (texts are deduplicated before they reach the labeler).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.progress import track

from driftalign.constants import OBSERVATIONS
from driftalign.data.schema import Trajectory
from driftalign.drift.refusal import is_refusal
from driftalign.drift.steps import Step, split_steps
from driftalign.labeling.uncertain import DEFAULT_UNCERTAIN, UncertainPolicy, is_positive

# The findings a teacher can assert: the 14 CheXpert observations minus "No Finding", which is
# the absence of findings, not a finding.
FINDINGS: tuple[str, ...] = tuple(o for o in OBSERVATIONS if o != "No Finding")

Labeler = Callable[[Sequence[str]], list[dict[str, Any]]]


@dataclass(frozen=True)
class Answer:
    """A trajectory with what the labeler found in it (asserted = labeler value 1)."""

    study_id: str
    teacher: str
    text: str
    asserted: frozenset[str]
    steps: tuple[Step, ...]
    step_asserted: tuple[frozenset[str], ...]
    refusal: bool
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_words(self) -> int:
        return len(self.text.split())


def asserted_findings(labels: dict[str, Any], findings: Sequence[str] = FINDINGS,
                      uncertain: UncertainPolicy | str = DEFAULT_UNCERTAIN) -> frozenset[str]:
    """Findings (of those in scope) the labeler marked positive (value 1; also -1 when uncertain
    counts as positive, `labeling.uncertain`); 'No Finding' is not a finding."""
    return frozenset(f for f in findings if is_positive(labels.get(f), uncertain))


def label_unique(
    texts: Sequence[str], labeler: Labeler, findings: Sequence[str] = FINDINGS, chunk: int = 1024,
    uncertain: UncertainPolicy | str = DEFAULT_UNCERTAIN,
) -> dict[str, frozenset[str]]:
    """Asserted findings per distinct text (each distinct text is labelled once, in chunks, with a progress bar)."""
    unique = list(dict.fromkeys(texts))
    found: dict[str, frozenset[str]] = {}
    for i in track(range(0, len(unique), chunk), description=f"labelling {len(unique)} distinct texts",
                   transient=True, disable=len(unique) <= chunk):
        batch = unique[i : i + chunk]
        labels = labeler(batch)
        if len(labels) != len(batch):
            raise RuntimeError(f"labeler returned {len(labels)} label sets for {len(batch)} texts")
        found.update((t, asserted_findings(lab, findings, uncertain)) for t, lab in zip(batch, labels, strict=True))
    return found


def prepare_answers(
    trajectories: Sequence[Trajectory], labeler: Labeler, findings: Sequence[str] = FINDINGS,
    uncertain: UncertainPolicy | str = DEFAULT_UNCERTAIN,
) -> list[Answer]:
    """Label every trajectory and every one of its steps (one labeler call for each distinct text).

    Only `findings` (default: all 13) count as assertions; e.g. the five MS-CXR-T findings when the
    teachers were asked about those only."""
    steps = [tuple(split_steps(t.response)) for t in trajectories]
    texts = [t.response for t in trajectories] + [s.text for st in steps for s in st]
    found = label_unique(texts, labeler, findings, uncertain=uncertain)
    return [
        Answer(
            study_id=t.study_id,
            teacher=t.teacher,
            text=t.response,
            asserted=found[t.response],
            steps=st,
            step_asserted=tuple(found[s.text] for s in st),
            refusal=is_refusal(t, bool(found[t.response])),
            meta=t.meta,
        )
        for t, st in zip(trajectories, steps, strict=True)
    ]
