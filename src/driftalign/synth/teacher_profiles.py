"""The numbers behind each simulated teacher: unhinted sensitivity/specificity, hinted drift rates.

Unhinted mode (asked yes/no per finding). The APO paper's Table 2 gives one accuracy per teacher
and MS-CXR-T finding, measured on a set balanced between positives and negatives, so
accuracy = (sensitivity + specificity) / 2. A teacher's *bias* splits that accuracy into the two:

    sens = acc + bias,   spec = acc - bias      (clipped to [RATE_MIN, RATE_MAX], the clipped
                                                 amount moved to the other rate, so the mean stays acc)

A positive bias is a trigger-happy teacher (more false positives), a negative one a conservative
teacher. Accuracies below 0.5 then give sens < 0.5 and spec < 0.5: the teacher systematically
calls negatives positive and misses positives (the paper's drift).

Hinted mode (CXR-MAX prompt, diagnoses given). Per given diagnosis, at most one drift event is
drawn with the teacher's rates below; per absent candidate finding a spurious mention is drawn
with probability `HINT_SPURIOUS_SCALE * (1 - spec)` -- the same false-positive tendency as in
unhinted mode, damped because the hint anchors the teacher on the given diagnoses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from driftalign.constants import MSCXRT_FINDINGS

RATE_MIN, RATE_MAX = 0.01, 0.99

# A hint anchors the teacher: it volunteers extra findings at this fraction of its unhinted
# false-positive rate (1 - specificity).
HINT_SPURIOUS_SCALE = 0.2

# Findings that are not in Table 2: every teacher answers them at this balanced accuracy.
DEFAULT_ACCURACY = 0.8

# The hinted answer may volunteer these absent findings (spurious) or rule them out (negatives).
HINT_CANDIDATES: tuple[str, ...] = (*MSCXRT_FINDINGS, "Atelectasis", "Cardiomegaly", "Lung Opacity")

# APO paper, Table 2: accuracy per teacher on Con., PE, Pna., Pnx., Ede. (MSCXRT_FINDINGS order).
PAPER_TABLE2: dict[str, tuple[float, float, float, float, float]] = {
    "sim-gpt-5": (0.75, 0.68, 0.89, 0.90, 0.52),
    "sim-gemini-2.5": (0.28, 0.61, 0.40, 0.94, 0.42),
    "sim-sonnet-4": (0.89, 0.69, 0.48, 0.15, 0.15),
    "sim-qwen-vl-max": (0.54, 0.65, 0.40, 0.95, 0.64),
    "sim-grok-4": (0.43, 0.41, 0.36, 0.97, 0.61),
    "sim-glm-4.5v": (0.59, 0.67, 0.52, 0.96, 0.72),
    "sim-moonshot": (0.13, 0.46, 0.77, 0.88, 0.19),
}

DRIFT_TYPES: tuple[str, ...] = ("laterality", "location", "sign", "overgeneralisation", "spurious", "omission")


@dataclass(frozen=True)
class DriftRates:
    """Per given diagnosis, P(each drift event); at most one event per diagnosis."""

    laterality: float   # left <-> right (a bilateral finding called one-sided)
    location: float     # wrong lobe / region, side kept
    sign: float         # the evidence has the wrong sign (a density called darker / hyperlucent)
    overgeneralisation: float  # "diffuse bilateral opacities" given as the cause of a one-sided finding
    omission: float     # the finding's image evidence is left out (only the summary names it)

    def __post_init__(self) -> None:
        if sum(self.as_dict().values()) >= 1.0:
            raise ValueError(f"drift rates must sum to < 1, got {self.as_dict()}")

    def as_dict(self) -> dict[str, float]:
        return {"laterality": self.laterality, "location": self.location, "sign": self.sign,
                "overgeneralisation": self.overgeneralisation, "omission": self.omission}


@dataclass(frozen=True)
class TeacherProfile:
    """Everything numeric about one simulated teacher (its text style lives in teacher_styles)."""

    name: str
    style: str
    bias: float                     # sens - acc (see module docstring)
    drift: DriftRates
    refusal_rate: float             # hinted answers that are full refusals
    n_negatives: int                # pertinent negatives a hinted answer states
    image_tokens: int               # what the hosted model bills for one image
    accuracy: dict[str, float] = field(default_factory=dict)  # Table 2, by CheXpert name

    def balanced_accuracy(self, finding: str) -> float:
        return self.accuracy.get(finding, DEFAULT_ACCURACY)

    def sensitivity(self, finding: str) -> float:
        return split_accuracy(self.balanced_accuracy(finding), self.bias)[0]

    def specificity(self, finding: str) -> float:
        return split_accuracy(self.balanced_accuracy(finding), self.bias)[1]

    def hinted_spurious_rate(self, finding: str) -> float:
        return HINT_SPURIOUS_SCALE * (1.0 - self.specificity(finding))


def split_accuracy(accuracy: float, bias: float) -> tuple[float, float]:
    """(sens, spec) with (sens + spec) / 2 == accuracy and sens - spec == 2 * bias where possible."""
    sens, spec = accuracy + bias, accuracy - bias
    for _ in range(2):  # move whatever one rate loses to clipping onto the other
        if sens > RATE_MAX or sens < RATE_MIN:
            clipped = min(max(sens, RATE_MIN), RATE_MAX)
            spec, sens = spec + (sens - clipped), clipped
        if spec > RATE_MAX or spec < RATE_MIN:
            clipped = min(max(spec, RATE_MIN), RATE_MAX)
            sens, spec = sens + (spec - clipped), clipped
    return sens, spec


def _table2(name: str) -> dict[str, float]:
    return dict(zip(MSCXRT_FINDINGS, PAPER_TABLE2[name], strict=True))


PROFILES: dict[str, TeacherProfile] = {
    p.name: p
    for p in (
        TeacherProfile("sim-gpt-5", "structured", bias=0.05, refusal_rate=0.01, n_negatives=3, image_tokens=765,
                       drift=DriftRates(laterality=0.03, location=0.04, sign=0.02, overgeneralisation=0.02, omission=0.03),
                       accuracy=_table2("sim-gpt-5")),
        TeacherProfile("sim-gemini-2.5", "markdown", bias=-0.04, refusal_rate=0.03, n_negatives=2, image_tokens=258,
                       drift=DriftRates(laterality=0.10, location=0.08, sign=0.05, overgeneralisation=0.06, omission=0.08),
                       accuracy=_table2("sim-gemini-2.5")),
        TeacherProfile("sim-sonnet-4", "careful", bias=0.03, refusal_rate=0.04, n_negatives=2, image_tokens=1334,
                       drift=DriftRates(laterality=0.06, location=0.06, sign=0.08, overgeneralisation=0.05, omission=0.10),
                       accuracy=_table2("sim-sonnet-4")),
        TeacherProfile("sim-qwen-vl-max", "plain", bias=0.04, refusal_rate=0.01, n_negatives=1, image_tokens=1024,
                       drift=DriftRates(laterality=0.08, location=0.10, sign=0.06, overgeneralisation=0.08, omission=0.06),
                       accuracy=_table2("sim-qwen-vl-max")),
        TeacherProfile("sim-grok-4", "terse", bias=-0.05, refusal_rate=0.005, n_negatives=0, image_tokens=256,
                       drift=DriftRates(laterality=0.12, location=0.08, sign=0.04, overgeneralisation=0.10, omission=0.12),
                       accuracy=_table2("sim-grok-4")),
        TeacherProfile("sim-glm-4.5v", "stepwise", bias=0.02, refusal_rate=0.02, n_negatives=2, image_tokens=1024,
                       drift=DriftRates(laterality=0.07, location=0.07, sign=0.05, overgeneralisation=0.05, omission=0.05),
                       accuracy=_table2("sim-glm-4.5v")),
        TeacherProfile("sim-moonshot", "disclaimer", bias=0.06, refusal_rate=0.12, n_negatives=1, image_tokens=1024,
                       drift=DriftRates(laterality=0.12, location=0.10, sign=0.10, overgeneralisation=0.12, omission=0.10),
                       accuracy=_table2("sim-moonshot")),
    )
}
