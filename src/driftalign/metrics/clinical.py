"""Clinical efficacy: precision / recall / F1 of a predicted report's labels vs the reference's.

Both reports are labelled by the same 14-label labeler. What an uncertain label (-1) counts as is
the `uncertain` keyword (`labeling.uncertain.UncertainPolicy`): by default (NEGATIVE) a label is
positive only when it is 1 (-1, 0 and None are all "not positive"); POSITIVE counts -1 as 1; OWN
scores 1 and -1 as two positive classes (tp: same class in both; a 1 against a -1 is a false
positive and a false negative). Shapes: one row per
report, 14 columns in `constants.OBSERVATIONS` order (No Finding included, as in CheXbert-based
evaluations).

* example_based (PromptMRG / DEER MIMIC-CXR convention): per report i, with tp_i, fp_i, fn_i
  counted over its 14 labels, P_i = tp/(tp+fp), R_i = tp/(tp+fn), F1_i = tp/(tp + (fp+fn)/2),
  0/0 -> 0 (numpy nan_to_num, as PromptMRG's `compute_ce`); then each is averaged over reports.
* macro (CheXpert Plus convention): per label c over all reports, P_c, R_c, F1_c (0/0 -> 0),
  then the unweighted mean over the 14 labels.
* micro: tp, fp, fn summed over all reports and labels, then P, R, F1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from driftalign.constants import OBSERVATIONS
from driftalign.labeling.uncertain import DEFAULT_UNCERTAIN, UncertainPolicy, label_class

Labels = dict[str, int | None]


def class_matrix(labels: Sequence[Labels], uncertain: UncertainPolicy | str = DEFAULT_UNCERTAIN) -> np.ndarray:
    """[n_reports, 14] int array of scored classes: 1 / 0, and -1 under OWN (`label_class`)."""
    return np.array([[label_class(row.get(name), uncertain) for name in OBSERVATIONS] for row in labels], dtype=np.int64)


def positive_matrix(labels: Sequence[Labels], uncertain: UncertainPolicy | str = DEFAULT_UNCERTAIN) -> np.ndarray:
    """[n_reports, 14] int array: 1 where the label is positive under the policy (default: exactly 1)."""
    return (class_matrix(labels, uncertain) == 1).astype(np.int64)


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def _counts(pred: np.ndarray, ref: np.ndarray, axis: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """tp/fp/fn of class matrices: every non-zero class is a finding; tp = same finding class."""
    pred_pos, ref_pos, same = pred != 0, ref != 0, pred == ref
    tp = (pred_pos & same).sum(axis=axis)
    fp = (pred_pos & ~same).sum(axis=axis)
    fn = (ref_pos & ~same).sum(axis=axis)
    return tp, fp, fn


def _prf(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return _safe_div(tp, tp + fp), _safe_div(tp, tp + fn), _safe_div(tp, tp + 0.5 * (fp + fn))


def clinical_scores(
    pred_labels: Sequence[Labels], ref_labels: Sequence[Labels], *, uncertain: UncertainPolicy | str = DEFAULT_UNCERTAIN
) -> dict[str, dict]:
    """example_based, macro and micro P/R/F1, plus per-label P/R/F1 and support (see module doc)."""
    if len(pred_labels) != len(ref_labels):
        raise ValueError(f"{len(pred_labels)} predictions but {len(ref_labels)} references")
    if not pred_labels:
        raise ValueError("no reports to score")
    pred, ref = class_matrix(pred_labels, uncertain), class_matrix(ref_labels, uncertain)   # [N, 14] each
    p_eg, r_eg, f_eg = _prf(*_counts(pred, ref, axis=1))                     # [N] each
    p_c, r_c, f_c = _prf(*_counts(pred, ref, axis=0))                        # [14] each
    p_mi, r_mi, f_mi = _prf(*_counts(pred, ref, axis=None))                  # scalars
    support = (ref != 0).sum(axis=0)
    return {
        "example_based": {"precision": float(p_eg.mean()), "recall": float(r_eg.mean()), "f1": float(f_eg.mean())},
        "macro": {"precision": float(p_c.mean()), "recall": float(r_c.mean()), "f1": float(f_c.mean())},
        "micro": {"precision": float(p_mi), "recall": float(r_mi), "f1": float(f_mi)},
        "per_label": {
            name: {"precision": float(p_c[j]), "recall": float(r_c[j]), "f1": float(f_c[j]), "support": int(support[j])}
            for j, name in enumerate(OBSERVATIONS)
        },
    }


def report_f1(pred: Labels, ref: Labels, *, uncertain: UncertainPolicy | str = DEFAULT_UNCERTAIN) -> float:
    """Example-based F1 of one report pair (DEER's reward term F1(C(o_i), C(y)), eq. 1)."""
    p, r = class_matrix([pred], uncertain), class_matrix([ref], uncertain)
    return float(_prf(*_counts(p, r, axis=1))[2][0])
