"""Diagnostic diversity of K sampled reports (DEER eq. 3-4): how much the model's K answers for
one input disagree about the findings.

    sigma_c = std over the K samples of the binary label of class c        (eq. 3)
    D       = sum_c sigma_c                                                (eq. 4)

The std is the population std (ddof = 0): the K samples are the whole set being described, not
an estimate of a larger one, and with ddof = 0 one class split K/2 : K/2 contributes exactly 0.5,
so D lies in [0, C / 2] whatever K is (C = 14 classes: D <= 7). A class on which all K samples
agree contributes 0; an input whose samples all say the same thing has D = 0 and, under a
label-F1 reward, would give GRPO a group of equal rewards, i.e. zero advantage and no gradient.
That is why DDSampling prefers high-D inputs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from driftalign.labeling.uncertain import UncertainPolicy
from driftalign.metrics.clinical import Labels, positive_matrix


def diagnostic_diversity(labels_KC: Sequence[Sequence[int]] | np.ndarray) -> float:
    """D = sum_c std_k(label[k, c]) (eq. 3-4), population std (ddof = 0).

    labels_KC: [K, C] binary labels (0/1) of K sampled reports over C classes (any array-like,
    e.g. a torch tensor). Example: K = 4 samples, classes (effusion, edema) =
    [[1, 0], [1, 1], [0, 0], [1, 0]] -> sigma = (std(1,1,0,1), std(0,1,0,0)) = (0.433, 0.433),
    D = 0.866 (each column has p = 1/4 or 3/4 ones: sqrt(p (1 - p)) = sqrt(3)/4).
    """
    arr = np.asarray(labels_KC, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(f"labels_KC must be a non-empty [K, C] array, got shape {arr.shape}")
    if not np.isin(arr, (0.0, 1.0)).all():
        raise ValueError("labels_KC must be binary (0/1): binarise uncertain labels first (see `binary_labels`)")
    return float(arr.std(axis=0, ddof=0).sum())


def binary_labels(labels: Sequence[Labels], uncertain: UncertainPolicy | str = UncertainPolicy.POSITIVE) -> np.ndarray:
    """[K, 14] 0/1 matrix of labeler outputs (OBSERVATIONS order): 1 where the label is positive
    under the uncertain policy (`labeling.uncertain`; POSITIVE counts -1 as 1, NEGATIVE as 0).
    OWN is refused: eq. 3 needs a binary label."""
    if UncertainPolicy(uncertain) is UncertainPolicy.OWN:
        raise ValueError("diagnostic diversity needs binary labels: uncertain policy 'positive' or 'negative', "
                         "not 'own'")
    return positive_matrix(labels, uncertain)
