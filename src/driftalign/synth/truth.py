"""Structured ground truth of a synthetic study: what is drawn, what is reported, what is labelled.

Images (`render.py`), reference reports (`reports.py`), labels and the simulated teachers
(`teachers.py`) are all derived from one `StudyTruth`, so they are consistent by construction.
The truth is stored in `Study.meta["truth"]` (see `StudyTruth.to_dict`) so that later stages
(drift measurement, tests) can compare what a teacher says against what is in the image.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from driftalign.constants import OBSERVATIONS

Side = Literal["left", "right", "bilateral"]


@dataclass(frozen=True)
class Finding:
    """One abnormality present in the image.

    name:      a CheXpert observation (never "No Finding").
    side:      "left" | "right" | "bilateral" | None (not lateralised, e.g. cardiomegaly).
    location:  anatomical region, e.g. "lower lobe", "upper lobe", "perihilar", "apical", "base".
    severity:  "small" | "moderate" | "large" (or "mild"/"severe" where radiologists say so), or None.
    detail:    finding-specific detail, e.g. the device ("endotracheal tube", "pacemaker",
               "central venous catheter"), "mass"/"nodule" for a lesion, "meniscus" for effusion.
    uncertain: True when the reference report hedges it ("cannot exclude ..."): label -1.
    """

    name: str
    side: str | None = None
    location: str | None = None
    severity: str | None = None
    detail: str | None = None
    uncertain: bool = False

    def __post_init__(self) -> None:
        if self.name not in OBSERVATIONS or self.name == "No Finding":
            raise ValueError(f"not a drawable observation: {self.name!r}")


@dataclass(frozen=True)
class Acquisition:
    """Per-study patient and scanner variation (applied by the renderer)."""

    body_scale: float = 1.0      # patient size relative to the field of view
    rotation_deg: float = 0.0    # patient rotation in the image plane
    contrast: float = 1.0        # gamma-like contrast of the detector
    brightness: float = 0.0      # offset added to intensities in [0, 1]
    noise: float = 0.02          # std of additive Gaussian noise
    blur: float = 0.0            # gaussian blur radius in pixels at 64 px


@dataclass(frozen=True)
class StudyTruth:
    """Everything true about one synthetic study."""

    study_id: str
    findings: tuple[Finding, ...] = ()
    negatives: tuple[str, ...] = ()   # observations the reference report explicitly rules out (label 0)
    acquisition: Acquisition = field(default_factory=Acquisition)

    def present(self) -> set[str]:
        return {f.name for f in self.findings}

    def finding(self, name: str) -> Finding | None:
        for f in self.findings:
            if f.name == name:
                return f
        return None

    def labels(self) -> dict[str, int | None]:
        """CheXpert-style labels consistent with the reference report.

        1 for a finding stated as present, -1 for a hedged one, 0 for an explicit negative, None
        otherwise. No Finding = 1 only when nothing but Support Devices is positive or uncertain
        (CheXpert convention), and then it is mentioned ("no acute cardiopulmonary process").
        """
        labels: dict[str, int | None] = {name: None for name in OBSERVATIONS}
        for name in self.negatives:
            labels[name] = 0
        for f in self.findings:
            labels[f.name] = -1 if f.uncertain else 1
        abnormal = any(labels[n] in (1, -1) for n in OBSERVATIONS if n not in ("No Finding", "Support Devices"))
        labels["No Finding"] = None if abnormal else 1
        return labels

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StudyTruth:
        return cls(
            study_id=d["study_id"],
            findings=tuple(Finding(**f) for f in d.get("findings", ())),
            negatives=tuple(d.get("negatives", ())),
            acquisition=Acquisition(**d.get("acquisition", {})),
        )
