"""Sampling the ground truth of synthetic studies: prevalence, co-occurrence, splits, acquisition.

A study is drawn in three steps (all from one `numpy.random.Generator`, so a seed fixes it):

1. **Normal or abnormal.** About 30% of internal studies are normal ("No Finding"); a few of
   them still carry a support device (CheXpert keeps No Finding = 1 for devices only).
2. **Disease processes** for abnormal studies, each switched on independently and then expanded
   into co-occurring findings the way they co-occur in MIMIC-CXR reports:
   heart failure -> cardiomegaly + edema + (bilateral) effusion (+ wide mediastinum);
   infection -> consolidation / pneumonia / lung opacity in one lobe (+ parapneumonic effusion);
   pleural disease -> effusion + adjacent atelectasis; pneumothorax (+ rib fracture, chest tube);
   isolated atelectasis, lesion, fracture, pleural thickening, cardiomegaly, wide mediastinum.
   Sicker patients (ICU acuity, heart failure, pneumothorax) get support devices more often.
3. **Details and hedges**: side / lobe / size / device per finding; ~8% of findings are hedged
   (`uncertain=True`, the report says "cannot exclude ..."); then the observations the reference
   report explicitly rules out (`negatives`).

The world is *enriched* relative to MIMIC-CXR so each of the five MS-CXR-T findings has >= ~8%
positives (learnable from 2,000 studies); docs/synthetic_world.md has the measured table.
The `external` split uses a different `Prevalence` (sicker, ICU-heavy population) and different
acquisition ranges (contrast, noise, rotation, brightness, blur) for zero-shot shift tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from driftalign.synth.truth import Acquisition, Finding, StudyTruth

# Split fractions of the internal studies; the external split is an extra EXTERNAL_FRACTION * n.
SPLIT_FRACTIONS: dict[str, float] = {"train": 0.7, "val": 0.1, "test": 0.2}
EXTERNAL_FRACTION = 0.1

LOBES: dict[str, tuple[str, ...]] = {
    "right": ("upper lobe", "middle lobe", "lower lobe"),
    "left": ("upper lobe", "lingula", "lower lobe"),
}
DEVICES: tuple[str, ...] = (
    "endotracheal tube", "central venous catheter", "nasogastric tube", "pacemaker", "chest tube",
)
# How often each finding is hedged in the reference report (overall ~8% of findings).
HEDGE_RATE: dict[str, float] = {
    "Pneumonia": 0.28, "Atelectasis": 0.15, "Lung Opacity": 0.1, "Edema": 0.1,
    "Pleural Effusion": 0.08, "Consolidation": 0.08, "Fracture": 0.1, "Lung Lesion": 0.08,
    "Enlarged Cardiomediastinum": 0.12, "Pleural Other": 0.06, "Pneumothorax": 0.05,
    "Cardiomegaly": 0.03, "Support Devices": 0.0,
}
# Observations a reference report commonly rules out when absent, with how often it does so.
NEGATION_RATE: dict[str, float] = {
    "Pneumothorax": 0.75, "Pleural Effusion": 0.7, "Consolidation": 0.5, "Edema": 0.35,
    "Cardiomegaly": 0.45, "Pneumonia": 0.2, "Enlarged Cardiomediastinum": 0.25, "Fracture": 0.15,
}


@dataclass(frozen=True)
class Prevalence:
    """Probabilities that drive one population (internal or external)."""

    normal: float = 0.30            # P(no finding)
    icu: float = 0.30               # P(ICU acuity | abnormal)
    heart_failure: float = 0.26
    infection: float = 0.22
    pleural: float = 0.13
    pneumothorax: float = 0.13
    atelectasis: float = 0.10
    lesion: float = 0.07
    fracture: float = 0.04
    pleural_other: float = 0.04
    cardiomegaly_only: float = 0.07
    mediastinum_only: float = 0.04
    device_if_icu: float = 0.85
    device_otherwise: float = 0.10
    device_if_normal: float = 0.05


INTERNAL = Prevalence()
# External site: an ICU-heavy tertiary centre (fewer normals, more heart failure and devices).
EXTERNAL = Prevalence(normal=0.18, icu=0.5, heart_failure=0.34, infection=0.26, pneumothorax=0.09,
                      lesion=0.04, device_if_icu=0.9, device_otherwise=0.15, device_if_normal=0.1)


def sample_acquisition(rng: np.random.Generator, *, external: bool = False) -> Acquisition:
    """Patient and scanner variation. External studies come from a visibly different scanner."""
    if not external:
        return Acquisition(
            body_scale=float(rng.uniform(0.9, 1.04)),
            rotation_deg=float(np.clip(rng.normal(0.0, 2.0), -4.0, 4.0)),
            contrast=float(rng.uniform(0.85, 1.2)),
            brightness=float(rng.uniform(-0.05, 0.05)),
            noise=float(rng.uniform(0.01, 0.03)),
            blur=float(rng.uniform(0.0, 0.5)),
        )
    sign = 1.0 if rng.random() < 0.5 else -1.0
    return Acquisition(
        body_scale=float(rng.uniform(0.84, 1.08)),
        rotation_deg=float(sign * rng.uniform(4.0, 9.0)),
        contrast=float(rng.choice([rng.uniform(0.6, 0.8), rng.uniform(1.25, 1.45)])),
        brightness=float(rng.choice([rng.uniform(-0.1, -0.06), rng.uniform(0.06, 0.12)])),
        noise=float(rng.uniform(0.035, 0.06)),
        blur=float(rng.uniform(0.5, 1.0)),
    )


def _side(rng: np.random.Generator, p_bilateral: float = 0.0, p_right: float = 0.5) -> str:
    if rng.random() < p_bilateral:
        return "bilateral"
    return "right" if rng.random() < p_right else "left"


def _lobe(rng: np.random.Generator, side: str, p_lower: float = 0.55) -> str:
    lobes = LOBES[side]
    if rng.random() < p_lower:
        return lobes[2]
    return lobes[0] if rng.random() < 0.55 else lobes[1]


def _size(rng: np.random.Generator, p: tuple[float, float, float] = (0.45, 0.35, 0.2)) -> str:
    return str(rng.choice(["small", "moderate", "large"], p=list(p)))


def _effusion(rng: np.random.Generator, side: str) -> Finding:
    return Finding("Pleural Effusion", side=side, location="base", severity=_size(rng), detail="meniscus")


def _heart_failure(rng: np.random.Generator) -> list[Finding]:
    out: list[Finding] = []
    if rng.random() < 0.7:
        out.append(Finding("Cardiomegaly", severity=str(rng.choice(["mild", "moderate", "severe"], p=[0.4, 0.4, 0.2]))))
    if rng.random() < 0.68:
        out.append(Finding("Edema", side="bilateral", location="perihilar",
                           severity=str(rng.choice(["mild", "moderate", "severe"], p=[0.4, 0.4, 0.2]))))
    if rng.random() < 0.6:
        out.append(_effusion(rng, _side(rng, p_bilateral=0.55, p_right=0.6)))
    if rng.random() < 0.12:
        out.append(Finding("Enlarged Cardiomediastinum", location="mediastinum"))
    if not out:
        out.append(Finding("Cardiomegaly", severity="mild"))
    return out


def _infection(rng: np.random.Generator) -> list[Finding]:
    side = _side(rng, p_right=0.6)
    lobe = _lobe(rng, side)
    out: list[Finding] = []
    dense = rng.random() < 0.72
    if dense:
        out.append(Finding("Consolidation", side=side, location=lobe, detail="air bronchograms" if rng.random() < 0.3 else None))
        if rng.random() < 0.3:
            out.append(Finding("Lung Opacity", side=side, location=lobe, detail="surrounding"))
    else:
        out.append(Finding("Lung Opacity", side=side, location=lobe, detail="patchy"))
    if rng.random() < 0.72:
        out.append(Finding("Pneumonia", side=side, location=lobe))
    if rng.random() < 0.22:
        out.append(_effusion(rng, side))
    return out


def _pleural(rng: np.random.Generator) -> list[Finding]:
    side = _side(rng, p_bilateral=0.3, p_right=0.55)
    out = [_effusion(rng, side)]
    if rng.random() < 0.55:
        out.append(Finding("Atelectasis", side=side, location="base", detail="adjacent"))
    return out


def _pneumothorax(rng: np.random.Generator) -> list[Finding]:
    side = _side(rng, p_right=0.55)
    out = [Finding("Pneumothorax", side=side, location="apical", severity=_size(rng, (0.5, 0.32, 0.18)))]
    if rng.random() < 0.15:
        out.append(Finding("Fracture", side=side, location="lateral rib", detail="rib"))
    if rng.random() < 0.35:
        out.append(Finding("Support Devices", side=side, detail="chest tube"))
    return out


def _lesion(rng: np.random.Generator) -> Finding:
    side = _side(rng)
    kind = "mass" if rng.random() < 0.35 else "nodule"
    return Finding("Lung Lesion", side=side, location=_lobe(rng, side, p_lower=0.35), detail=kind,
                   severity="large" if kind == "mass" else "small")


def _processes(rng: np.random.Generator, prev: Prevalence) -> list[Finding]:
    """Expand independently switched disease processes into findings; at least one finding."""
    while True:
        out: list[Finding] = []
        if rng.random() < prev.heart_failure:
            out += _heart_failure(rng)
        if rng.random() < prev.infection:
            out += _infection(rng)
        if rng.random() < prev.pleural:
            out += _pleural(rng)
        if rng.random() < prev.pneumothorax:
            out += _pneumothorax(rng)
        if rng.random() < prev.atelectasis:
            side = _side(rng, p_bilateral=0.4)
            out.append(Finding("Atelectasis", side=side, location="base", detail="plate-like"))
            if rng.random() < 0.3:
                out.append(Finding("Lung Opacity", side=side, location="base", detail="basilar"))
        if rng.random() < prev.lesion:
            out.append(_lesion(rng))
        if rng.random() < prev.fracture:
            out.append(Finding("Fracture", side=_side(rng), location="lateral rib", detail="rib"))
        if rng.random() < prev.pleural_other:
            out.append(Finding("Pleural Other", side=_side(rng, p_bilateral=0.2), location="apical",
                               detail="pleural thickening"))
        if rng.random() < prev.cardiomegaly_only:
            out.append(Finding("Cardiomegaly", severity="mild"))
        if rng.random() < prev.mediastinum_only:
            out.append(Finding("Enlarged Cardiomediastinum", location="mediastinum"))
        if any(f.name != "Support Devices" for f in out):
            return out


def _merge(findings: list[Finding]) -> list[Finding]:
    """One finding per observation (the first wins; two effusion sides become bilateral), except
    Support Devices, which keeps one entry per distinct device."""
    merged: dict[str, Finding] = {}
    devices: dict[str, Finding] = {}
    for f in findings:
        if f.name == "Support Devices":
            devices.setdefault(f.detail or "", f)
        elif f.name in merged:
            old = merged[f.name]
            if f.name == "Pleural Effusion" and old.side != f.side:
                merged[f.name] = Finding(old.name, "bilateral", old.location, old.severity, old.detail)
        else:
            merged[f.name] = f
    return list(merged.values()) + list(devices.values())


def _devices(rng: np.random.Generator, sick: bool) -> list[Finding]:
    """ICU patients: ETT, central line, NG tube in combinations; others: pacemaker or a line."""
    if sick:
        out = [Finding("Support Devices", detail="endotracheal tube")] if rng.random() < 0.7 else []
        if rng.random() < 0.6:
            out.append(Finding("Support Devices", side=_side(rng, p_right=0.7), detail="central venous catheter"))
        if out and rng.random() < 0.5:
            out.append(Finding("Support Devices", detail="nasogastric tube"))
        return out or [Finding("Support Devices", side="right", detail="central venous catheter")]
    kind = str(rng.choice(["pacemaker", "central venous catheter"], p=[0.6, 0.4]))
    side = "left" if kind == "pacemaker" else _side(rng, p_right=0.7)
    return [Finding("Support Devices", side=side, detail=kind)]


def _hedge(rng: np.random.Generator, findings: list[Finding]) -> list[Finding]:
    out = []
    for f in findings:
        if rng.random() < HEDGE_RATE.get(f.name, 0.0):
            f = Finding(f.name, f.side, f.location, f.severity, f.detail, uncertain=True)
        out.append(f)
    return out


def _negatives(rng: np.random.Generator, present: set[str], normal: bool) -> tuple[str, ...]:
    """What the report rules out: normal reports rule out more (the classic 'no effusion or pneumothorax')."""
    boost = 1.25 if normal else 1.0
    chosen = [name for name, p in NEGATION_RATE.items() if name not in present and rng.random() < min(1.0, p * boost)]
    if "Pneumonia" in present or "Consolidation" in present:
        chosen = [n for n in chosen if n not in ("Consolidation", "Pneumonia")]
    return tuple(chosen)


def sample_truth(rng: np.random.Generator, study_id: str, *, external: bool = False) -> StudyTruth:
    """Draw one study's ground truth (findings, explicit negatives, acquisition)."""
    prev = EXTERNAL if external else INTERNAL
    normal = rng.random() < prev.normal
    if normal:
        findings = _devices(rng, False) if rng.random() < prev.device_if_normal else []
    else:
        findings = _processes(rng, prev)
        icu = rng.random() < prev.icu
        names = {f.name for f in findings}
        sick = icu or "Edema" in names or "Pneumothorax" in names
        if rng.random() < (prev.device_if_icu if icu else prev.device_otherwise * (2.0 if sick else 1.0)):
            findings += _devices(rng, sick)
        findings = _hedge(rng, _merge(findings))
    negatives = _negatives(rng, {f.name for f in findings}, normal)
    return StudyTruth(study_id=study_id, findings=tuple(findings), negatives=negatives,
                      acquisition=sample_acquisition(rng, external=external))


def study_id_for(index: int) -> str:
    return f"synth-{index:06d}"


def split_plan(n: int, seed: int) -> list[str]:
    """Exact 70/10/20 split of n internal studies (shuffled), then round(0.1 n) external ones."""
    n_val = round(n * SPLIT_FRACTIONS["val"])
    n_test = round(n * SPLIT_FRACTIONS["test"])
    internal = ["train"] * (n - n_val - n_test) + ["val"] * n_val + ["test"] * n_test
    order = np.random.default_rng([seed, 0x5B117]).permutation(n)
    return [internal[i] for i in order] + ["external"] * round(n * EXTERNAL_FRACTION)


def sample_truths(n: int, seed: int) -> list[tuple[StudyTruth, str]]:
    """Truths and splits of a world with n internal studies plus round(0.1 n) external ones.

    Each study has its own generator seeded by (seed, index), so study i does not depend on how
    many studies are drawn: the first 80 studies of a 2,000-study world equal an 80-study world's
    internal studies (same seed), apart from the split assignment.
    """
    if n < 1:
        raise ValueError(f"need at least one study, got {n}")
    out = []
    for i, split in enumerate(split_plan(n, seed)):
        rng = np.random.default_rng([seed, i])
        out.append((sample_truth(rng, study_id_for(i), external=split == "external"), split))
    return out
