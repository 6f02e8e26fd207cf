"""Reference radiology reports (findings + impression) written from a `StudyTruth`.

Consistency with `truth.labels()` is by construction:
* every finding is mentioned; a hedged one (`uncertain=True`) only with a hedge ("possible",
  "cannot exclude", "may represent"), never stated as present;
* every observation in `truth.negatives` gets an explicitly negated sentence ("No pneumothorax.");
* nothing else is mentioned — in particular the words "opacity"/"infiltrate" appear only for a
  "Lung Opacity" finding (CheXpert labels Lung Opacity from them), and normal wording
  ("No acute cardiopulmonary process.") only when No Finding = 1.

Phrasing varies with `rng` (synonyms, sentence order of negatives, device descriptions) so that
a student cannot learn one template per label. Lateral sides are the patient's.
"""

from __future__ import annotations

import numpy as np

from driftalign.synth.truth import Finding, StudyTruth

# Order of the findings section: lines/tubes, lungs, pleura, heart and mediastinum, bones.
SECTION_ORDER: tuple[str, ...] = (
    "Support Devices", "Consolidation", "Pneumonia", "Lung Opacity", "Edema", "Atelectasis", "Lung Lesion",
    "Pleural Effusion", "Pneumothorax", "Pleural Other", "Cardiomegaly", "Enlarged Cardiomediastinum", "Fracture",
)
PARENCHYMAL = frozenset({"Consolidation", "Pneumonia", "Lung Opacity", "Edema", "Atelectasis", "Lung Lesion", "Pneumothorax"})

NORMAL_IMPRESSIONS = ("No acute cardiopulmonary process.", "No acute cardiopulmonary abnormality.",
                      "No acute intrathoracic process.")
CLEAR_LUNGS = ("The lungs are clear.", "Lungs are well expanded and clear.", "The lungs are clear bilaterally.")

NEGATION_SENTENCES: dict[str, tuple[str, ...]] = {
    "Pneumothorax": ("No pneumothorax.", "There is no pneumothorax.", "No pneumothorax is seen."),
    "Pleural Effusion": ("No pleural effusion.", "There is no pleural effusion.", "No pleural effusions."),
    "Consolidation": ("No focal consolidation.", "There is no focal consolidation.", "No consolidation."),
    "Edema": ("No pulmonary edema.", "There is no pulmonary edema.", "No evidence of pulmonary edema."),
    "Pneumonia": ("No evidence of pneumonia.", "No radiographic evidence of pneumonia."),
    "Cardiomegaly": ("Heart size is normal.", "The cardiac silhouette is normal in size.", "No cardiomegaly."),
    "Enlarged Cardiomediastinum": ("Mediastinal contours are normal.", "The mediastinum is not widened."),
    "Fracture": ("No acute rib fracture.", "No displaced fracture is seen."),
}
# Several negatives in one sentence, as radiologists write them.
COMBINED_NEGATIONS: tuple[tuple[frozenset[str], tuple[str, ...]], ...] = (
    (frozenset({"Consolidation", "Pleural Effusion", "Pneumothorax"}),
     ("No focal consolidation, pleural effusion or pneumothorax.", "No consolidation, effusion, or pneumothorax.")),
    (frozenset({"Pleural Effusion", "Pneumothorax"}),
     ("No pleural effusion or pneumothorax.", "No effusion or pneumothorax is seen.",
      "There is no pleural effusion or pneumothorax.")),
    (frozenset({"Cardiomegaly", "Enlarged Cardiomediastinum"}),
     ("Heart size and mediastinal contours are normal.", "Normal heart size and mediastinal contours.")),
)

SEVERITY_ADVERB = {"mild": "mildly", "moderate": "moderately", "severe": "severely"}
HEDGE_PREFIXES = ("Possible", "Questionable", "Cannot exclude")


def _pick(rng: np.random.Generator, options: tuple[str, ...] | list[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _side(f: Finding) -> str:
    return f.side or "right"


def _region(f: Finding) -> str:
    """'right lower lobe', 'lingula', 'right lung base', 'lung bases'."""
    side, loc = _side(f), f.location or "lower lobe"
    if loc == "lingula":
        return "lingula"
    if loc in ("base", "apical"):
        where = "lung base" if loc == "base" else "apex"
        return f"{where}s" if side == "bilateral" and loc == "base" else f"{side} {where}"
    return f"{side} {loc}"


def _size(f: Finding, default: str = "small") -> str:
    return f.severity or default


# ---- one function per observation: (findings sentence, impression phrase), hedged when uncertain ----

def _effusion(f: Finding, rng: np.random.Generator) -> tuple[str, str]:
    size, side = _size(f), _side(f)
    if side == "bilateral":
        noun = f"{size} bilateral pleural effusions"
        angle = "both costophrenic angles"
    else:
        noun = f"{size} {side} pleural effusion"
        angle = f"the {side} costophrenic angle"
    if f.uncertain:
        return _pick(rng, (f"Blunting of {angle} may represent a {size} effusion.",
                           f"Possible {noun}.", f"Cannot exclude a {noun}.")), f"Possible {noun}."
    return _pick(rng, (f"{_cap(noun)}.", f"There is a {noun}." if side != "bilateral" else f"There are {noun}.",
                       f"Blunting of {angle}, consistent with {'a ' if side != 'bilateral' else ''}{noun}.",
                       f"{_cap(noun)} with a meniscus.")), f"{_cap(noun)}."


def _pneumothorax(f: Finding, rng: np.random.Generator) -> tuple[str, str]:
    size, side = _size(f), _side(f)
    noun = f"{size} {side} apical pneumothorax"
    if f.uncertain:
        return _pick(rng, (f"Possible {noun}.", f"Cannot exclude a {noun}.")), f"Possible {noun}."
    return _pick(rng, (f"{_cap(noun)}.", f"There is a {size} {side} pneumothorax.",
                       f"A {side} visceral pleural line with absent lung markings peripherally, "
                       f"consistent with a {size} pneumothorax.")), f"{_cap(size)} {side} pneumothorax."


def _consolidation(f: Finding, rng: np.random.Generator) -> tuple[str, str]:
    where = _region(f)
    bronchograms = " with air bronchograms" if f.detail == "air bronchograms" else ""
    if f.uncertain:
        return _pick(rng, (f"Possible consolidation in the {where}.", f"Cannot exclude consolidation in the {where}.")), \
            f"Possible {where} consolidation."
    return _pick(rng, (f"Focal consolidation in the {where}{bronchograms}.", f"Dense consolidation of the {where}{bronchograms}.",
                       f"{_cap(where)} consolidation{bronchograms}.")), f"{_cap(where)} consolidation."


def _pneumonia(f: Finding, rng: np.random.Generator) -> tuple[str, str]:
    where = _region(f)
    if f.uncertain:
        return _pick(rng, ("Infection cannot be excluded in the appropriate clinical setting.",
                           f"Findings in the {where} may represent pneumonia.")), \
            _pick(rng, ("Cannot exclude pneumonia.", f"Possible {where} pneumonia.", "Pneumonia is possible."))
    return _pick(rng, (f"Findings in the {where} are consistent with pneumonia.", f"Appearance compatible with {where} pneumonia.")), \
        _pick(rng, (f"{_cap(where)} pneumonia.", f"Findings consistent with {where} pneumonia."))


def _opacity(f: Finding, rng: np.random.Generator) -> tuple[str, str]:
    where = _region(f)
    basilar = ""
    if f.location == "base":
        basilar = "bibasilar" if _side(f) == "bilateral" else f"{_side(f)} basilar"
        options = (f"{_cap(basilar)} opacity.", f"Hazy {basilar} opacity.", f"Patchy opacity at the {where}.")
    else:
        options = (f"Patchy opacity in the {where}.", f"Ill-defined opacity projecting over the {where}.",
                   f"Hazy {where} opacity.")
    short = basilar if f.location == "base" else where
    if f.uncertain:
        return f"Possible faint opacity at the {where}.", f"Possible {short} opacity."
    return _pick(rng, options), f"{_cap(short)} opacity."


def _edema(f: Finding, rng: np.random.Generator) -> tuple[str, str]:
    sev = f.severity or "mild"
    if f.uncertain:
        return _pick(rng, ("Possible mild pulmonary edema.", "Findings may represent early interstitial edema.")), \
            "Possible mild pulmonary edema."
    return _pick(rng, (f"{_cap(sev)} pulmonary edema.", f"Pulmonary vascular congestion with {sev} interstitial edema.",
                       f"Bilateral perihilar {sev} pulmonary edema.")), f"{_cap(sev)} pulmonary edema."


def _atelectasis(f: Finding, rng: np.random.Generator) -> tuple[str, str]:
    side = _side(f)
    where = "bibasilar" if side == "bilateral" else f"{side} basilar"
    if f.uncertain:
        return _pick(rng, (f"Linear {where} changes may represent atelectasis.", f"Possible {where} atelectasis.")), \
            f"Possible {where} atelectasis."
    if f.detail == "adjacent":
        return f"{_cap(where)} compressive atelectasis.", f"{_cap(where)} atelectasis."
    return _pick(rng, (f"{_cap(where)} atelectasis.", f"Plate-like atelectasis at the {_region(f)}.",
                       f"Linear {where} atelectasis.")), f"{_cap(where)} atelectasis."


def _lesion(f: Finding, rng: np.random.Generator) -> tuple[str, str]:
    where = _region(f)
    if f.detail == "mass":
        noun = f"{int(rng.integers(4, 8))} cm mass in the {where}"
        short = f"{where} mass"
    else:
        noun = f"{int(rng.integers(8, 20))} mm nodule in the {where}"
        short = f"{where} pulmonary nodule"
    if f.uncertain:
        return f"Possible {short}; CT could further evaluate.", f"Possible {short}."
    return _pick(rng, (f"{_cap(noun)}.", f"There is a {noun}.")), f"{_cap(short)}; recommend chest CT."


def _fracture(f: Finding, rng: np.random.Generator) -> tuple[str, str]:
    side = _side(f)
    rib = _pick(rng, ("fifth", "sixth", "seventh", "eighth"))
    if f.uncertain:
        return f"Possible nondisplaced fracture of the {side} lateral {rib} rib.", f"Possible {side} rib fracture."
    return _pick(rng, (f"Acute fracture of the {side} lateral {rib} rib.", f"Displaced {side} {rib} rib fracture.")), \
        f"{_cap(side)} {rib} rib fracture."


def _pleural_other(f: Finding, rng: np.random.Generator) -> tuple[str, str]:
    side = _side(f)
    if f.uncertain:
        return f"Possible {side} apical pleural thickening.", f"Possible {side} pleural thickening."
    return _pick(rng, (f"{_cap(side)} apical pleural thickening.", f"Pleural thickening along the {side} upper chest wall.")), \
        f"{_cap(side)} pleural thickening."


def _cardiomegaly(f: Finding, rng: np.random.Generator) -> tuple[str, str]:
    sev = f.severity or "mild"
    if f.uncertain:
        return "Heart size may be mildly enlarged.", "Possible mild cardiomegaly."
    return _pick(rng, (f"The heart is {SEVERITY_ADVERB.get(sev, 'mildly')} enlarged.", "Enlarged cardiac silhouette.",
                       f"{_cap(sev)} cardiomegaly.")), f"{_cap(sev)} cardiomegaly."


def _mediastinum(f: Finding, rng: np.random.Generator) -> tuple[str, str]:
    if f.uncertain:
        return "Possible mediastinal widening, may be related to technique.", "Possible mediastinal widening."
    return _pick(rng, ("Widened mediastinum.", "The mediastinal contours are enlarged.", "The mediastinum is widened.")), \
        "Widened mediastinum."


def _device(f: Finding, rng: np.random.Generator) -> tuple[str, str]:
    side = _side(f)
    cm = int(rng.integers(3, 7))
    sentences = {
        "endotracheal tube": (f"Endotracheal tube terminates {cm} cm above the carina.",
                              f"ET tube in standard position, {cm} cm above the carina."),
        "central venous catheter": (f"{_cap(side)} internal jugular central venous catheter terminates in the mid SVC.",
                                    f"{_cap(side)} IJ central line with tip at the cavoatrial junction."),
        "nasogastric tube": ("Nasogastric tube courses below the diaphragm with tip in the stomach.",
                             "Enteric tube tip projects over the stomach."),
        "pacemaker": ("Left chest wall pacemaker with leads terminating in the right atrium and right ventricle.",
                      "Pacemaker leads terminate in the right ventricle."),
        "chest tube": (f"{_cap(side)} chest tube in place.", f"A {side}-sided chest tube is present."),
    }
    device = f.detail if f.detail in sentences else "central venous catheter"
    return _pick(rng, sentences[device]), ""


PHRASERS = {
    "Pleural Effusion": _effusion, "Pneumothorax": _pneumothorax, "Consolidation": _consolidation,
    "Pneumonia": _pneumonia, "Lung Opacity": _opacity, "Edema": _edema, "Atelectasis": _atelectasis,
    "Lung Lesion": _lesion, "Fracture": _fracture, "Pleural Other": _pleural_other,
    "Cardiomegaly": _cardiomegaly, "Enlarged Cardiomediastinum": _mediastinum, "Support Devices": _device,
}


def negation_sentences(negatives: tuple[str, ...] | list[str], rng: np.random.Generator) -> list[str]:
    """Explicit negatives, combined into one sentence where radiologists usually combine them."""
    left = set(negatives)
    out: list[str] = []
    for group, options in COMBINED_NEGATIONS:
        if group <= left and rng.random() < 0.7:
            out.append(_pick(rng, options))
            left -= group
    out += [_pick(rng, NEGATION_SENTENCES[name]) for name in NEGATION_SENTENCES if name in left]
    return out


def write_report(truth: StudyTruth, rng: np.random.Generator) -> tuple[str, str]:
    """(findings, impression) consistent with `truth.labels()` (see module docstring)."""
    order = {name: i for i, name in enumerate(SECTION_ORDER)}
    findings = sorted(truth.findings, key=lambda f: order[f.name])
    phrases = [PHRASERS[f.name](f, rng) for f in findings]
    sentences = [s for s, _ in phrases]
    if not truth.present() & PARENCHYMAL:
        sentences.insert(sum(f.name == "Support Devices" for f in findings), _pick(rng, CLEAR_LUNGS))
    sentences += negation_sentences(truth.negatives, rng)
    impression = [imp for _, imp in phrases if imp]
    if truth.labels()["No Finding"] == 1:
        impression.append(_pick(rng, NORMAL_IMPRESSIONS))
    return " ".join(sentences), " ".join(impression)
