"""Names shared by every stage: the 14 CheXpert observations, the five MS-CXR-T findings, prompts.

Names live here and only here (STYLE.md: "the same name as a string in five files" is what to avoid).
"""

from __future__ import annotations

from typing import Literal

# The 14 observations, spelled exactly as CheXpert spells them (SPEC §2).
OBSERVATIONS: tuple[str, ...] = (
    "Atelectasis",
    "Cardiomegaly",
    "Consolidation",
    "Edema",
    "Enlarged Cardiomediastinum",
    "Fracture",
    "Lung Lesion",
    "Lung Opacity",
    "No Finding",
    "Pleural Effusion",
    "Pleural Other",
    "Pneumonia",
    "Pneumothorax",
    "Support Devices",
)

# The five MS-CXR-T findings of the paper's Tables 1, 2 and 5, in the paper's column order,
# mapped to the short column headers the paper uses.
MSCXRT_FINDINGS: dict[str, str] = {
    "Consolidation": "Con.",
    "Pleural Effusion": "PE",
    "Pneumonia": "Pna.",
    "Pneumothorax": "Pnx.",
    "Edema": "Ede.",
}

# Label values of the dataset contract: 1 positive, 0 negative, -1 uncertain, None not mentioned.
LABEL_VALUES: frozenset[int | None] = frozenset({1, 0, -1, None})

SPLITS: tuple[str, ...] = ("train", "val", "test", "external")
# What a stage's `split` option takes: one split or every study (a typo fails while the config is read).
Split = Literal["all", "train", "val", "test", "external"]
# The student presets of `init-student` (models/presets.py: PRESETS).
Preset = Literal["tiny", "base", "small"]

# The paper's collection prompt (CXR-MAX), hinted with the study's diagnoses.
CXR_MAX_PROMPT = (
    "This is a patient's chest DR image. The patient has been diagnosed with {diseases}. "
    "Can you find the basis for the diagnosis in the image?"
)

# Unhinted prompt: the teacher must decide on each finding without being told the diagnosis.
UNHINTED_PROMPT = (
    "This is a patient's chest DR image. For each of the following findings, answer whether it is "
    "present in the image (yes or no) and explain briefly: {findings}."
)

# The student's default prompt: findings and diagnosis *without* the labels (issue 5).
STUDENT_PROMPT = (
    "This is a patient's chest DR image. Describe the findings and give your diagnosis."
)


def format_diseases(names: list[str]) -> str:
    """Join diagnoses the way the CXR-MAX prompt expects: 'a', 'a and b', 'a, b and c'."""
    names = [n.lower() for n in names] or ["no finding"]
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " and " + names[-1]
