"""How a simulated teacher words one finding: image evidence, sign-inverted evidence, negation.

Every sentence built here mentions its finding with a CheXpert-style phrase (`MENTION_PATTERNS`)
so that a rule labeler reads the same finding, polarity and side that the teacher's
`meta["claims"]` record. Sentences avoid the vocabulary of *other* observations (no "opacity" in
a consolidation sentence, no negation words near a positive finding) and never contain an
inner ". " that a sentence splitter could cut.

A `Sentence` carries its text plus the claims it makes and the drift events it embodies; the
style layer (`teacher_styles`) arranges sentences into an answer, `teachers` numbers them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# (one side, bilateral, no side) forms of "where" per location string of `synth.truth.Finding`.
_LOCATION_FORMS: dict[str | None, tuple[str, str, str]] = {
    "upper lobe": ("in the {side} upper lobe", "in both upper lobes", "in the upper lobe"),
    "middle lobe": ("in the {side} middle lobe", "bilaterally in the mid lungs", "in the mid lung"),
    "lingula": ("in the {side} lingula", "bilaterally in the mid lungs", "in the lingula"),
    "lower lobe": ("in the {side} lower lobe", "in both lower lobes", "in the lower lobe"),
    "base": ("at the {side} lung base", "at both lung bases", "at the lung base"),
    "apical": ("at the {side} apex", "at both apices", "at the apex"),
    "perihilar": ("in the {side} perihilar region", "bilaterally in the perihilar regions", "in the perihilar regions"),
    "lateral rib": ("along the {side} lateral ribs", "bilaterally along the lateral ribs", "along the lateral ribs"),
    "mediastinum": ("in the mediastinum", "in the mediastinum", "in the mediastinum"),
    None: ("in the {side} lung", "in both lungs", "in the chest"),
}

# Findings that have a side in the image; the others (heart, mediastinum, devices) are unsided.
SIDED: frozenset[str] = frozenset({
    "Atelectasis", "Consolidation", "Edema", "Fracture", "Lung Lesion", "Lung Opacity",
    "Pleural Effusion", "Pleural Other", "Pneumonia", "Pneumothorax",
})

# Where a teacher puts a finding when the truth does not say (spurious mentions, prompt-only diagnoses).
DEFAULT_LOCATION: dict[str, str] = {
    "Pleural Effusion": "base", "Pneumothorax": "apical", "Consolidation": "lower lobe", "Pneumonia": "lower lobe",
    "Lung Opacity": "lower lobe", "Atelectasis": "base", "Edema": "perihilar", "Lung Lesion": "upper lobe",
    "Fracture": "lateral rib", "Pleural Other": "apical", "Enlarged Cardiomediastinum": "mediastinum",
}

# Wrong places a teacher may put a finding (location drift); the true place is excluded at draw time.
WRONG_LOCATIONS: dict[str, tuple[str, ...]] = {
    "Consolidation": ("upper lobe", "lower lobe", "perihilar", "apical"),
    "Pneumonia": ("upper lobe", "lower lobe", "perihilar", "apical"),
    "Lung Opacity": ("upper lobe", "lower lobe", "perihilar", "apical"),
    "Atelectasis": ("upper lobe", "apical", "perihilar"),
    "Lung Lesion": ("upper lobe", "lower lobe", "perihilar"),
    "Pleural Effusion": ("apical", "perihilar"),
    "Pneumothorax": ("base", "perihilar"),
    "Edema": ("upper lobe", "base"),
    "Pleural Other": ("base", "lateral rib"),
    "Fracture": ("apical",),
}

# Findings a teacher can wrongly blame on "diffuse bilateral opacities".
OVERGENERALISABLE: frozenset[str] = frozenset({
    "Consolidation", "Pneumonia", "Atelectasis", "Lung Opacity", "Edema", "Pleural Effusion",
})

_EVIDENCE: dict[str, str] = {
    "Pleural Effusion": "There is blunting of the costophrenic angle with a meniscus sign {where}, "
                        "consistent with {a}{sev}{side}pleural effusion{s}.",
    "Pneumothorax": "A sharp visceral pleural line with a hyperlucent periphery is seen {where}, "
                    "consistent with {a}{sev}{side}pneumothorax.",
    "Consolidation": "There is dense consolidation with air bronchograms {where}.",
    "Pneumonia": "A focal infectious process with air bronchograms is in keeping with pneumonia {where}.",
    "Edema": "There is {sev}pulmonary edema {where}, with interstitial thickening, Kerley B lines and "
             "vascular congestion.",
    "Atelectasis": "Plate-like atelectasis is seen {where}, with mild volume loss.",
    "Lung Opacity": "There is a patchy opacity {where}.",
    "Cardiomegaly": "The cardiac silhouette is enlarged, with a cardiothoracic ratio above one half, "
                    "consistent with {sev}cardiomegaly.",
    "Enlarged Cardiomediastinum": "The mediastinum is widened, consistent with an enlarged cardiomediastinum.",
    "Fracture": "A rib fracture is seen {where}, with a cortical break.",
    "Lung Lesion": "A well-circumscribed {lesion} is seen {where}, concerning for a lung lesion.",
    "Pleural Other": "There is pleural thickening {where}.",
}

# Evidence with the wrong sign: a density described as darker / hyperlucent, or the reverse.
_SIGN_INVERTED: dict[str, str] = {
    "Pleural Effusion": "The costophrenic angle appears abnormally dark and hyperlucent, "
                        "consistent with {a}{side}pleural effusion{s}.",
    "Consolidation": "An abnormally dark, hyperlucent area is consistent with consolidation {where}.",
    "Pneumonia": "An abnormally dark, hyperlucent area is in keeping with pneumonia {where}.",
    "Atelectasis": "The lung appears darker and hyperlucent, consistent with atelectasis {where}.",
    "Lung Opacity": "There is an abnormally dark, hyperlucent opacity {where}.",
    "Edema": "The lungs appear darker and hyperlucent with sparse vascular markings, "
             "consistent with pulmonary edema {where}.",
    "Pneumothorax": "A brighter, whiter area with preserved lung markings is consistent with "
                    "{a}{side}pneumothorax {where}.",
    "Cardiomegaly": "The cardiac silhouette appears small and narrow, consistent with cardiomegaly.",
    "Lung Lesion": "A dark, hyperlucent {lesion} is seen {where}, concerning for a lung lesion.",
}
SIGN_DRIFTABLE: frozenset[str] = frozenset(_SIGN_INVERTED)

_DEVICES: dict[str, str] = {
    "endotracheal tube": "An endotracheal tube is in place, with its tip above the carina.",
    "central venous catheter": "A central venous catheter is in place, with its tip in the superior vena cava.",
    "nasogastric tube": "A nasogastric tube is in place, coursing below the diaphragm.",
    "pacemaker": "A cardiac pacemaker is in place, with its leads projecting over the heart.",
    "chest tube": "A chest tube is in place.",
}
_GENERIC_DEVICE = "Support devices are in place."

# Phrase used when a finding is negated ("No {phrase} is seen.").
NEGATION_PHRASE: dict[str, str] = {
    "Pleural Effusion": "pleural effusion", "Pneumothorax": "pneumothorax", "Consolidation": "focal consolidation",
    "Pneumonia": "pneumonia", "Edema": "pulmonary edema", "Atelectasis": "atelectasis", "Lung Opacity": "focal opacity",
    "Cardiomegaly": "cardiomegaly", "Enlarged Cardiomediastinum": "enlarged cardiomediastinum",
    "Fracture": "acute rib fracture", "Lung Lesion": "suspicious lung nodule or mass", "Pleural Other": "pleural thickening",
    "Support Devices": "indwelling support device",
}
NEGATION_FORMS: tuple[str, ...] = ("No {phrase} is seen.", "There is no {phrase}.", "No evidence of {phrase}.")

# Phrase used when a finding is named in a summary ("... supports the diagnosis of {phrase}").
SUMMARY_PHRASE: dict[str, str] = {
    "Pleural Effusion": "pleural effusion", "Pneumothorax": "pneumothorax", "Consolidation": "consolidation",
    "Pneumonia": "pneumonia", "Edema": "pulmonary edema", "Atelectasis": "atelectasis", "Lung Opacity": "lung opacity",
    "Cardiomegaly": "cardiomegaly", "Enlarged Cardiomediastinum": "enlarged cardiomediastinum",
    "Fracture": "rib fracture", "Lung Lesion": "lung lesion", "Pleural Other": "pleural thickening",
    "Support Devices": "support devices",
}

NO_FINDING_SENTENCE = "No acute cardiopulmonary abnormality is identified."

# What a reader (or a rule labeler) finds in a sentence that states the observation.
MENTION_PATTERNS: dict[str, re.Pattern[str]] = {
    name: re.compile(pattern, re.IGNORECASE)
    for name, pattern in {
        "Pleural Effusion": r"pleural effusion", "Pneumothorax": r"pneumothorax", "Consolidation": r"consolidation",
        "Pneumonia": r"pneumonia", "Edema": r"edema", "Atelectasis": r"atelectasis", "Lung Opacity": r"opacit",
        "Cardiomegaly": r"cardiomegaly", "Enlarged Cardiomediastinum": r"cardiomediastinum",
        "Fracture": r"fracture", "Lung Lesion": r"lesion|nodule|mass", "Pleural Other": r"pleural thickening",
        "Support Devices": r"tube|catheter|pacemaker|support device", "No Finding": r"no acute cardiopulmonary",
    }.items()
}


@dataclass
class Sentence:
    """One sentence of an answer with the claims it makes and the drift events it embodies."""

    text: str
    claims: list[dict[str, Any]] = field(default_factory=list)   # finding, polarity, side, location
    events: list[dict[str, Any]] = field(default_factory=list)   # type, finding, detail


def claim(finding: str, polarity: int, side: str | None = None, location: str | None = None) -> dict[str, Any]:
    return {"finding": finding, "polarity": polarity, "side": side, "location": location}


def where(side: str | None, location: str | None) -> str:
    """'in the right lower lobe', 'at both lung bases', 'at the apex' ..."""
    one, both, unsided = _LOCATION_FORMS.get(
        location, (f"in the {{side}} {location}", f"bilaterally in the {location}", f"in the {location}"))
    if side == "bilateral":
        return both
    if side in ("left", "right"):
        return one.format(side=side)
    return unsided


def _fix_articles(text: str) -> str:
    return re.sub(r"\ba (?=[aeiou])", "an ", text)


def _fill(template: str, side: str | None, location: str | None, severity: str | None, detail: str | None) -> str:
    bilateral = side == "bilateral"
    text = template.format(
        where=where(side, location),
        a="" if bilateral else "a ",
        sev=f"{severity} " if severity else "",
        side=f"{side} " if side else "",
        s="s" if bilateral else "",
        lesion=detail if detail in ("nodule", "mass") else "nodule",
    )
    return _fix_articles(text)


def evidence_text(finding: str, side: str | None, location: str | None,
                  severity: str | None = None, detail: str | None = None) -> str:
    """The sentence that shows a finding in the image (Support Devices: see `device_text`)."""
    if finding == "Support Devices":
        return device_text(detail)
    return _fill(_EVIDENCE[finding], side, location, severity, detail)


def sign_inverted_text(finding: str, side: str | None, location: str | None, detail: str | None = None) -> str:
    """Evidence with the wrong radiographic sign (only for findings in SIGN_DRIFTABLE)."""
    return _fill(_SIGN_INVERTED[finding], side, location, None, detail)


def device_text(device: str | None) -> str:
    return _DEVICES.get(device or "", _GENERIC_DEVICE)


def negation_text(finding: str, form: int) -> str:
    return NEGATION_FORMS[form % len(NEGATION_FORMS)].format(phrase=NEGATION_PHRASE[finding])


def overgeneralised_text(finding: str) -> str:
    """'Diffuse bilateral opacities' blamed for a one-sided finding."""
    if finding == "Lung Opacity":
        return "Diffuse bilateral opacities are seen throughout both lungs."
    return f"The {SUMMARY_PHRASE[finding]} is attributed to diffuse bilateral opacities throughout both lungs."


def join_names(phrases: list[str]) -> str:
    if len(phrases) <= 1:
        return "".join(phrases)
    return ", ".join(phrases[:-1]) + " and " + phrases[-1]
