"""The synthetic world's reference reports are labelled exactly as their study labels say."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from driftalign.labeling import label_reports


def test_labeler_agrees_with_truth_on_sampled_synthetic_reports() -> None:
    """500 sampled truths -> reports (synth.reports) -> labeler == truth.labels(), every label."""
    from driftalign.synth.reports import write_report
    from driftalign.synth.sampling import sample_truths

    rng = np.random.default_rng(7)
    truths = [truth for truth, _ in sample_truths(500, seed=7)]
    texts = [" ".join(part for part in write_report(t, rng) if part) for t in truths]
    for truth, text, labels in zip(truths, texts, label_reports(texts), strict=True):
        assert labels == truth.labels(), text


def test_labeler_agrees_with_study_labels_on_synth_world(synth_world: Path) -> None:
    from driftalign.data import load_dataset

    ds = load_dataset(synth_world, with_trajectories=False, verify_images=False)
    studies = ds.studies
    assert len(studies) >= 80 and all(s.report for s in studies)  # every synthetic study has a reference report
    for study, labels in zip(studies, label_reports([s.report for s in studies]), strict=True):
        assert labels == study.labels, (study.study_id, study.report)
