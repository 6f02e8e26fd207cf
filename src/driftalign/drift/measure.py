"""`measure_drift`: how much a dataset's teachers drift — from the reference, from each other, and
along their reasoning. The library entry point behind `driftalign drift`."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from driftalign.constants import MSCXRT_FINDINGS
from driftalign.data.dataset import TRAJECTORIES_FILE, Dataset
from driftalign.data.schema import Study, Trajectory
from driftalign.drift.answers import FINDINGS, Answer, Labeler, prepare_answers
from driftalign.drift.between import fleiss_by_finding, pairwise_kappa
from driftalign.drift.errors import drift_errors, error_rates
from driftalign.drift.events import event_counts, has_recorded_events
from driftalign.drift.laterality import SideFinder, laterality_counts, mention_sides, merge_sides
from driftalign.drift.report import DriftReport
from driftalign.drift.steps import split_steps
from driftalign.drift.stepwise import step_drift
from driftalign.drift.teacher_metrics import teacher_metrics
from driftalign.errors import ConfigError, DatasetError
from driftalign.labeling.uncertain import DEFAULT_UNCERTAIN, UncertainPolicy


class Embedder(Protocol):
    def embed(self, texts: Sequence[str], description: str = ...) -> np.ndarray: ...


def _select_studies(dataset: Dataset, split: str | None) -> list[Study]:
    studies = dataset.split(split)
    if not studies:
        available = sorted({s.split for s in dataset.studies})
        raise DatasetError(f"{dataset.root}/studies.jsonl: no studies in split {split!r} (splits present: {available})")
    return studies


def _select_trajectories(
    dataset: Dataset, study_ids: set[str], teachers: Sequence[str] | None
) -> tuple[list[Trajectory], int]:
    """Trajectories of the chosen studies and teachers, first one per (study, teacher); and #duplicates."""
    path = dataset.root / TRAJECTORIES_FILE
    if not dataset.trajectories:
        raise DatasetError(
            f"{path}: no teacher trajectories — drift compares teachers' answers; "
            "collect them first (`driftalign collect`, or `driftalign synth --teachers all` for a synthetic world)"
        )
    if teachers is not None:
        unknown = sorted(set(teachers) - set(dataset.teachers))
        if unknown:
            raise ConfigError(f"--teachers: unknown teacher(s) {unknown}; {path} has {dataset.teachers}")
    keep = set(teachers) if teachers is not None else None
    chosen: dict[tuple[str, str], Trajectory] = {}
    duplicates = 0
    for t in dataset.trajectories:
        if t.study_id in study_ids and (keep is None or t.teacher in keep):
            if (t.study_id, t.teacher) in chosen:
                duplicates += 1
            else:
                chosen[(t.study_id, t.teacher)] = t
    if not chosen:
        raise DatasetError(f"{path}: no trajectories for the selected studies and teachers")
    return list(chosen.values()), duplicates


def _default_labeler() -> Labeler:
    from driftalign.labeling import label_reports

    return label_reports


def _document_vector(step_texts: Sequence[str], vectors: dict[str, np.ndarray]) -> np.ndarray | None:
    """A text's embedding: the L2-normalised mean of its steps' sentence embeddings (None if no steps)."""
    if not step_texts:
        return None
    mean = np.mean([vectors[t] for t in step_texts], axis=0)
    return mean / max(float(np.linalg.norm(mean)), 1e-12)


def _similarities(
    answers: Sequence[Answer], studies: dict[str, Study], vectors: dict[str, np.ndarray]
) -> dict[str, list[float]]:
    """Per teacher: cosine(answer, reference report) for each study that has a reference report.

    An answer without any step (empty) has similarity 0 — it shares no meaning with the reference.
    """
    refs = {sid: _document_vector([s.text for s in split_steps(s.report)], vectors) for sid, s in studies.items()}
    out: dict[str, list[float]] = {}
    for a in answers:
        ref = refs[a.study_id]
        if ref is None:
            continue
        doc = _document_vector([s.text for s in a.steps], vectors)
        out.setdefault(a.teacher, []).append(0.0 if doc is None else float(doc @ ref))
    return out


def _laterality(
    answers: Sequence[Answer], studies: dict[str, Study], side_finder: SideFinder, findings: Sequence[str]
) -> dict[str, tuple[int, int]]:
    """Per teacher: (comparable, mismatched) side pairs against the reference reports (findings in scope)."""
    ref_steps = {sid: [s.text for s in split_steps(st.report)] for sid, st in studies.items()}
    texts = list(dict.fromkeys([s.text for a in answers for s in a.steps] + [t for v in ref_steps.values() for t in v]))
    scope = set(findings)
    sides = {t: {f: s for f, s in found.items() if f in scope}
             for t, found in zip(texts, side_finder(texts), strict=True)}
    refs = {sid: merge_sides([sides[t] for t in steps]) for sid, steps in ref_steps.items()}
    out: dict[str, tuple[int, int]] = {}
    for a in answers:
        comparable, mismatched = laterality_counts(merge_sides([sides[s.text] for s in a.steps]), refs[a.study_id])
        prev = out.get(a.teacher, (0, 0))
        out[a.teacher] = (prev[0] + comparable, prev[1] + mismatched)
    return out


def _embed_steps(answers: Sequence[Answer], studies: dict[str, Study], embedder: Embedder) -> dict[str, np.ndarray]:
    texts = list(dict.fromkeys(
        [s.text for a in answers for s in a.steps]
        + [s.text for st in studies.values() for s in split_steps(st.report)]
    ))
    return dict(zip(texts, embedder.embed(texts, description="embedding steps"), strict=True))


def measure_drift(
    dataset: Dataset,
    teachers: Sequence[str] | None = None,
    split: str | None = None,
    *,
    labeler: Labeler | None = None,
    embedder: Embedder | None = None,
    side_finder: SideFinder | None = None,
    findings: Sequence[str] = FINDINGS,
    max_steps: int = 12,
    windows: int = 5,
    uncertain: UncertainPolicy | str = DEFAULT_UNCERTAIN,
) -> DriftReport:
    """Measure teacher drift on a loaded dataset (see docs/drift.md for every definition).

    teachers: names to compare (None = all in the dataset); split: a split name (None/"all" = all).
    labeler: texts -> CheXpert label dicts (default: driftalign.labeling.label_reports).
    embedder: sentence embedder (default: the offline MiniLM `SentenceEmbedder`); its vectors give
    the semantic similarity and the step-embedding drift.
    side_finder: texts -> {finding: sides of its positive mentions} (default: the labeler's mentions),
    for the laterality error rate against the reference report.
    findings: the findings in scope for assertions, P/R/F1, kappas and the step JS (default: the 13
    CheXpert findings; pass the five MS-CXR-T findings when the teachers were asked about those only).
    uncertain: whether an uncertain label (in an answer or a study) is an assertion / a positive
    (`labeling.uncertain`; default: negative, i.e. only 1 is).
    """
    unknown = sorted(set(findings) - set(FINDINGS))
    if unknown or not findings:
        raise ConfigError(f"--findings: expected CheXpert findings other than 'No Finding', got {unknown or 'none'}")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    study_list = _select_studies(dataset, split)
    studies = {s.study_id: s for s in study_list}
    trajectories, duplicates = _select_trajectories(dataset, set(studies), teachers)
    answers = prepare_answers(trajectories, labeler or _default_labeler(), findings, uncertain)
    sides = _laterality(answers, studies, side_finder or mention_sides, findings)
    timings["label"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    vectors = _embed_steps(answers, studies, embedder or _default_embedder())
    timings["embed"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    report = _assemble(answers, studies, vectors, sides, findings, max_steps=max_steps, windows=windows,
                       uncertain=uncertain)
    report.dataset, report.split, report.duplicates_ignored = str(dataset.root), split or "all", duplicates
    timings["metrics"] = time.perf_counter() - t0
    report.timings = timings
    return report


def _error_rates(answers: Sequence[Answer], studies: dict[str, Study]) -> dict[str, float]:
    """Drift errors per 100 trajectories (drift/errors.py): the same detectors `eval` runs on students."""
    return error_rates(drift_errors([a.text for a in answers], [studies[a.study_id] for a in answers]))


def _default_embedder() -> Embedder:
    from driftalign.drift.embeddings import SentenceEmbedder

    return SentenceEmbedder()


def _assemble(
    answers: Sequence[Answer],
    studies: dict[str, Study],
    vectors: dict[str, np.ndarray],
    sides: dict[str, tuple[int, int]],
    findings: Sequence[str],
    *,
    max_steps: int,
    windows: int,
    uncertain: UncertainPolicy | str = DEFAULT_UNCERTAIN,
) -> DriftReport:
    """All measures from the prepared answers (labels, steps, embeddings, side counts)."""
    names = sorted({a.teacher for a in answers})
    by_teacher = {t: {a.study_id: a for a in answers if a.teacher == t} for t in names}
    sims = _similarities(answers, studies, vectors)
    # Per-finding accuracy: the five MS-CXR-T findings in scope (all findings in scope if none is).
    accuracy_findings = [f for f in MSCXRT_FINDINGS if f in findings] or list(findings)
    per_teacher = [
        teacher_metrics(t, list(by_teacher[t].values()), studies, sims.get(t, []), accuracy_findings,
                        sides.get(t, (0, 0)), findings, _error_rates(list(by_teacher[t].values()), studies),
                        uncertain=uncertain)
        for t in names
    ]
    with_events = has_recorded_events(answers)
    return DriftReport(
        dataset="",
        split="all",
        synthetic=any(bool(studies[a.study_id].meta.get("synthetic")) for a in answers),
        teachers=names,
        n_studies=len({a.study_id for a in answers}),
        n_trajectories=len(answers),
        per_teacher=per_teacher,
        pairwise_kappa=pairwise_kappa(by_teacher, findings),
        fleiss_kappa=fleiss_by_finding(by_teacher, findings),
        step_drift=step_drift(answers, vectors, max_steps=max_steps, windows=windows, with_events=with_events,
                              findings=findings),
        recorded_events={t: event_counts(list(by_teacher[t].values())) for t in names} if with_events else {},
        accuracy_findings=accuracy_findings,
        findings=list(findings),
        settings={"max_steps": max_steps, "windows": windows, "findings": list(findings)},
    )
