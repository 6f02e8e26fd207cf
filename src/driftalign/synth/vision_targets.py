"""Supervised targets of a synthetic image, for pretraining a student's vision encoder.

A real vision-language student (Qwen2.5-VL-7B) arrives with a vision encoder pretrained on a very
large corpus; a randomly initialised test-bed student does not. `models.vision_pretraining` gives
it one, trained on freshly rendered synthetic images that are *not* in any dataset, to these
targets read off each image's `StudyTruth` (what is drawn, where):

* per drawable finding (the 13 CheXpert observations other than No Finding): present, on the left,
  on the right (bilateral = both);
* the lung zone of an airspace finding (consolidation, pneumonia, lung opacity, lesion): upper,
  middle, lower;
* each support device type.

No report text and no study of a dataset is used, so SPD still learns *what to say* only from the
teachers (and the oracle only from the reference reports).
"""

from __future__ import annotations

import numpy as np

from driftalign.constants import OBSERVATIONS
from driftalign.synth.sampling import DEVICES
from driftalign.synth.truth import StudyTruth

DRAWN: tuple[str, ...] = tuple(o for o in OBSERVATIONS if o != "No Finding")
ZONED: frozenset[str] = frozenset({"Consolidation", "Pneumonia", "Lung Opacity", "Lung Lesion"})
_ZONE = {"upper lobe": 0, "apical": 0, "middle lobe": 1, "lingula": 1, "lower lobe": 2, "base": 2}

TARGET_NAMES: tuple[str, ...] = (
    *(f"{name}{part}" for name in DRAWN for part in ("", " (left)", " (right)")),
    "airspace zone: upper", "airspace zone: middle", "airspace zone: lower",
    *(f"device: {d}" for d in DEVICES),
)


def vision_targets(truth: StudyTruth) -> np.ndarray:
    """[len(TARGET_NAMES)] float32 0/1 targets of one synthetic image (module docstring)."""
    y = np.zeros(len(TARGET_NAMES), dtype=np.float32)
    zones = 3 * len(DRAWN)
    for f in truth.findings:
        i = 3 * DRAWN.index(f.name)
        y[i] = 1.0
        if f.side in ("left", "bilateral"):
            y[i + 1] = 1.0
        if f.side in ("right", "bilateral"):
            y[i + 2] = 1.0
        if f.name in ZONED and f.location in _ZONE:
            y[zones + _ZONE[f.location]] = 1.0
        if f.name == "Support Devices" and f.detail in DEVICES:
            y[zones + 3 + DEVICES.index(f.detail)] = 1.0
    return y
