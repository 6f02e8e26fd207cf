"""The labeler's vocabulary: mention phrases per observation and ConText trigger terms.

Data only (no logic). Every entry is a regular-expression fragment, matched case-insensitively
with word boundaries added around it (see `mentions.py` / `context.py`); they are compiled once
at import time.

Sources: the phrase lists of the CheXpert labeler (stanfordmlgroup/chexpert-labeler,
`phrases/mention/*.txt`, `phrases/unmention/*.txt`) and the trigger lists of NegEx/ConText
(Chapman et al. 2001, Harkema et al. 2009), extended with MIMIC-CXR radiologist vocabulary.
Where this file departs from CheXpert it says so in a comment.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

# ---------------------------------------------------------------------------------------------
# Mention phrases
# ---------------------------------------------------------------------------------------------


class MentionKind(str, Enum):
    """How a matched phrase becomes a label.

    FINDING:   the phrase names the abnormality ("cardiomegaly", "effusion"); positive unless a
               ConText trigger negates or hedges it.
    HEDGED:    the phrase itself is indirect evidence ("vascular congestion" for Edema, as in
               CheXpert's post-negation uncertainty rules): uncertain (-1) unless negated.
    ATTRIBUTE: the phrase names an anatomical attribute that is only a finding when qualified
               ("heart size", "cardiac silhouette", "mediastinal contours"): positive with an
               enlargement word nearby, negative with a normal-type trigger, uncertain with
               "stable"/"unchanged"/"borderline" (CheXpert convention), otherwise no mention.
    NORMAL:    a whole-study normal phrase ("no acute cardiopulmonary process"): a No Finding
               mention with value 1; its words are not triggers.
    """

    FINDING = "finding"
    HEDGED = "hedged"
    ATTRIBUTE = "attribute"
    NORMAL = "normal"


@dataclass(frozen=True)
class PhraseSet:
    observation: str
    kind: MentionKind
    phrases: tuple[str, ...]


# Internal pseudo-observation for abnormalities outside the 14 labels (CheXpert's
# phrases/mention/no_finding.txt): they are not labels, but a positive one forbids No Finding = 1.
OTHER_FINDING = "_other_finding"

_SIDE_WORD = r"(?:left|right|bilateral|both)"

PHRASE_SETS: tuple[PhraseSet, ...] = (
    PhraseSet("Atelectasis", MentionKind.FINDING, (
        r"atelecta\w*", r"(?:lobar |lobe |segmental |basilar )?collapsed?",
    )),
    PhraseSet("Cardiomegaly", MentionKind.FINDING, (
        r"cardiomegaly", r"cardiac enlargement", r"enlarged heart", r"enlargement of the heart",
        r"cardiac silhouette enlargement",
    )),
    PhraseSet("Cardiomegaly", MentionKind.ATTRIBUTE, (
        r"heart size", r"size of the heart", r"cardiac size", r"cardiac silhouette",
        r"cardiac (?:and mediastinal )?silhouettes", r"cardiac shadow", r"cardiac contours?",
        r"(?:the )?heart(?! (?:failure|border|borders|rate|valve))",
    )),
    PhraseSet("Consolidation", MentionKind.FINDING, (r"consolidat\w*",)),
    PhraseSet("Edema", MentionKind.FINDING, (
        r"(?:pulmonary |interstitial |alveolar |airspace |perihilar )?edema", r"heart failure", r"chf",
        r"fluid overload", r"volume overload",
    )),
    # CheXpert: congestion / vascular prominence / indistinctness are uncertain evidence of edema.
    PhraseSet("Edema", MentionKind.HEDGED, (
        r"(?:pulmonary )?vascular congestion", r"pulmonary (?:venous )?congestion", r"vascular engorgement",
        r"(?:pulmonary )?vascular (?:prominence|indistinctness)", r"indistinctness of the (?:pulmonary )?vasculature",
        r"(?:perihilar |hilar )?indistinctness",
    )),
    PhraseSet("Enlarged Cardiomediastinum", MentionKind.FINDING, (
        r"enlarged cardiomediastinum", r"cardiomediastinal enlargement", r"widened mediastinum",
        r"mediastinal widening", r"widening of the mediastinum", r"mediastinal enlargement",
    )),
    PhraseSet("Enlarged Cardiomediastinum", MentionKind.ATTRIBUTE, (
        r"cardiomediastinal (?:and hilar )?(?:silhouettes?|contours?|structures?)",
        r"(?:cardio)?mediastinum", r"mediastinal (?:and hilar )?(?:silhouettes?|contours?|configuration|structures?)",
        r"pericardial silhouette", r"cardiac silhouette and vascularity",
    )),
    PhraseSet("Fracture", MentionKind.FINDING, (r"fractures?", r"fractured", r"fx"),),
    PhraseSet("Lung Lesion", MentionKind.FINDING, (
        r"mass(?:es)?(?! effect)", r"nodular (?:density|densities|opacity|opacities|opacification)",
        r"(?<!calcified )nodules?", r"lump", r"cavitary (?:lesion|lesions|mass)", r"cavitation",
        r"(?:lung|pulmonary) lesions?", r"carcinoma", r"neoplasms?", r"tumou?rs?", r"malignancy",
    )),
    PhraseSet("Lung Opacity", MentionKind.FINDING, (
        r"opacit(?:y|ies)", r"opacification", r"opacified", r"decreased translucency", r"increased density",
        r"air[- ]?space (?:disease|process)", r"infiltrat(?:e|es|ion|ive)", r"interstitial (?:markings?|pattern|lung disease|abnormality|opacit(?:y|ies))",
        r"reticular (?:pattern|markings?|opacit(?:y|ies))", r"reticulation", r"reticulonodular",
        # CheXpert unmention "pleural scar" (Lung Opacity); also its hyphenated pleuro-parenchymal forms.
        r"(?<!pleural )(?<!pleural-)(?<!pleuro-)(?<!pleuroparenchymal )(?<!pleuro-parenchymal )(?<!pleural-parenchymal )(?:parenchymal )?scar(?:ring|s)?", r"peribronchial (?:wall )?thickening",
        r"ground[- ]glass", r"haziness", r"hazy",
    )),
    PhraseSet("Pleural Effusion", MentionKind.FINDING, (
        r"(?<!pericardial )(?<!joint )effusions?", r"pleural fluid", r"hydrothorax", r"hemothorax",
        r"hydropneumothorax",
    )),
    # Blunting of a costophrenic angle is indirect evidence of effusion: uncertain, as in CheXpert's
    # post-negation uncertainty rule "blunting of the costophrenic angle".
    PhraseSet("Pleural Effusion", MentionKind.HEDGED, (
        r"blunting of the (?:" + _SIDE_WORD + r" )?(?:posterior |lateral )?costophrenic (?:angles?|sulcus|sulci)",
        r"(?:blunted|blunting of) (?:the )?(?:" + _SIDE_WORD + r" )?(?:posterior |lateral )?costophrenic (?:angles?|sulcus|sulci)",
        r"(?:costophrenic (?:angle|sulcus) )blunting",
    )),
    PhraseSet("Pleural Other", MentionKind.FINDING, (
        r"pleural thickening", r"pleural (?:plaques?|calcifications?)", r"fibrothorax",
        r"pleural (?:scar|scarring)", r"pleuro-?parenchymal (?:scar|scarring)", r"pleural-parenchymal (?:scar|scarring)",
        r"fibrosis", r"apical (?:pleural )?(?:cap|capping)",
    )),
    PhraseSet("Pneumonia", MentionKind.FINDING, (
        r"(?:broncho)?pneumonias?", r"infection", r"infectious (?:process|etiology)?", r"pneumonic",
    )),
    PhraseSet("Pneumothorax", MentionKind.FINDING, (r"(?:hydro)?pneumothora(?:x|ces)", r"ptx"),),
    PhraseSet("Support Devices", MentionKind.FINDING, (
        r"(?:endotracheal|et|tracheostomy|enteric|nasogastric|orogastric|ng|og|feeding|chest|dobhoff|dobbhoff|"
        r"mediastinal|pleural|gastric|j|g) tubes?", r"ett", r"ngt",
        # CheXpert's bare "tube" / "lines" / " line " ("lines and tubes are unchanged"); not the
        # anatomical lines of a radiograph (pleural line, septal / Kerley lines, fissure, skin line).
        r"tubes?",
        r"(?<!pleural )(?<!septal )(?<!kerley b )(?<!kerley )(?<!fissure )(?<!fissural )(?<!skin )(?<!azygoesophageal )"
        r"(?<!paraspinal )(?<!paratracheal )(?<!mid)lines?",
        r"pacemaker(?: leads?| wires?)?", r"pacer(?: leads?| wires?)?", r"(?:pacing|transvenous|epicardial) (?:leads?|wires?)",
        r"leads?(?! to)", r"a?icd", r"defibrillator",
        r"(?:central venous |central |venous |arterial |swan[- ]ganz |pulmonary artery |dialysis |ij |subclavian )?catheters?",
        r"(?:central |venous |arterial |picc |midline |ij |subclavian |internal jugular |femoral )lines?",
        r"picc", r"swan[- ]ganz", r"port-?a-?cath", r"mediport", r"(?:chest |power )?port",
        r"(?:sternotomy|sternal|cerclage) wires?", r"(?:median )?sternotomy", r"cabg",
        r"(?:prosthetic |mechanical |bioprosthetic |aortic |mitral )valves?(?: replacement)?", r"valve replacement",
        r"stents?", r"hardware", r"arthroplast\w*", r"drains?", r"cannula", r"coils?", r"devices?",
        r"intra-?aortic balloon pump", r"iabp", r"lvad", r"impella", r"plates?(?!-?like)", r"screws?", r"(?:skin |nipple )?markers?",
    )),
    PhraseSet("No Finding", MentionKind.NORMAL, (
        r"no acute (?:cardiopulmonary|intrathoracic|cardiac or pulmonary|pulmonary|chest) (?:process|abnormality|abnormalities|disease|findings?|pathology)",
        r"no acute (?:process|abnormality|findings?|disease)", r"no active disease",
        r"no (?:radiographic )?evidence of acute (?:cardiopulmonary )?(?:disease|process)",
        r"normal (?:chest|chest radiograph|chest x-?ray|study|examination|exam|radiograph)",
        r"no (?:significant )?(?:cardiopulmonary )?abnormalit(?:y|ies)",
    )),
    # CheXpert's phrases/mention/no_finding.txt (abridged): abnormal, but none of the 14 labels.
    PhraseSet(OTHER_FINDING, MentionKind.FINDING, (
        r"emphysema\w*", r"copd", r"hyperinflat\w*", r"hyperexpan\w*", r"scoliosis", r"kyphosis", r"hernia\w*",
        r"granulomas?", r"granulomatous", r"bullae?", r"bullous", r"pneumomediastinum", r"pneumoperitoneum", r"free air", r"metasta\w*",
        r"aspiration", r"bronchiectasis", r"bronchitis", r"bronchiolitis", r"cephalization", r"(?:peribronchial )?cuffing",
        r"volume loss", r"elevat(?:ion|ed) (?:of the )?(?:" + _SIDE_WORD + r" )?hemidiaphragm", r"eventration",
        r"osteopenia", r"deformit(?:y|ies)", r"contusions?", r"hematoma", r"hemorrhage", r"atheroscler\w*",
        r"calcifi\w*", r"degenerat\w*", r"osteophyt\w*",
        r"pericardial effusions?",   # not a pleural effusion (CheXpert unmention), but abnormal
    )),
)

# Attribute mentions after these words are positional ("opacity over the heart"), not about the
# attribute itself (CheXpert's positional unmentions for Cardiomegaly / Enlarged Cardiomediastinum).
POSITIONAL_PREFIX = r"(?:over|overlying|overlies|(?<!change )(?<!changes )in|into|behind|through|at|within|projecting over|projects over|obscur\w*)\s+(?:the\s+)?(?:left\s+|right\s+|superior\s+)?$"

# Words that make an ATTRIBUTE mention positive (searched near the attribute, in its clause).
ENLARGEMENT_TERMS: tuple[str, ...] = (
    r"enlarg\w*", r"large", r"larger", r"increased", r"increasing", r"prominen\w*", r"widen\w*", r"wide",
    r"cardiomegaly", r"globular", r"dilated", r"dilatation",
)
# Words that make an ATTRIBUTE mention uncertain (CheXpert post-negation uncertainty rules:
# "stable/unchanged silhouette", "similar to prior", "borderline heart size").
STABILITY_TERMS: tuple[str, ...] = (
    r"stable", r"unchanged", r"similar", r"borderline", r"no (?:significant |substantial |appreciable )?(?:interval )?change",
    r"not (?:significantly )?changed", r"persistent(?:ly)?",
)
# How many words either side of an ATTRIBUTE mention a qualifier may be.
ATTRIBUTE_WINDOW_WORDS = 6

# ---------------------------------------------------------------------------------------------
# Benign explanations (driftalign addition; CheXpert has only the "calcified nodule" unmention)
# ---------------------------------------------------------------------------------------------

# A Lung Lesion / Lung Opacity phrase that its own sentence explains as one of these is a
# look-alike, not a lesion: "nodular densities consistent with old granulomatous disease",
# "rounded opacities ... are nipple shadows". Only asserted (value 1) mentions before the
# explanation are dropped; "possible nodule versus nipple shadow" stays uncertain.
BENIGN_EXPLANATION = (
    r"granulomas?|granulomatous|nipple shadows?|nipples?|skin folds?|overlapping (?:vessels|vascular|soft tissues?|structures|shadows?)"
    r"|vascular structures|end-on vessels?|costochondral (?:calcification|cartilage)|bone islands?"
)
BENIGN_OBSERVATIONS: tuple[str, ...] = ("Lung Lesion", "Lung Opacity")

# ---------------------------------------------------------------------------------------------
# ConText triggers
# ---------------------------------------------------------------------------------------------


class Category(str, Enum):
    NEGATED = "negated"
    UNCERTAIN = "uncertain"
    PSEUDO = "pseudo"          # looks like a trigger, is not one ("no change"): matched to be ignored
    TERMINATE = "terminate"    # ends every scope ("but", "however", ...)


class Direction(str, Enum):
    FORWARD = "forward"        # modifies what follows ("no pneumothorax")
    BACKWARD = "backward"      # modifies what precedes ("pneumothorax has resolved")
    BIDIRECTIONAL = "bidirectional"  # both ("atelectasis versus pneumonia")


@dataclass(frozen=True)
class TriggerSpec:
    """One trigger term and how far it reaches.

    yields_to_negation: NegBio applies its rules in three passes — pre-negation uncertainty
    ("cannot exclude", "no new"), then negation, then post-negation uncertainty — and the first
    that matches decides. A trigger with this flag is a post-negation uncertainty rule that can sit
    *inside* a negated phrase ("no ... consolidation concerning for pneumonia", "no focal
    consolidation, suspicious opacity, ... or pneumothorax", the "XXX or YYY" rule): it does not end
    a negation's scope, and a mention covered by both is negated. Every other uncertainty trigger
    (pre-negation rules and hedges such as "possible", "may represent") ends a negation's scope,
    as in ConText ("no effusion, possible pneumonia").
    list_comma: a comma-plus-severity terminator (", small left effusion") that a negated list
    ending in "or"/"nor" ignores ("no consolidation, large effusion, or pneumothorax").
    source: the CheXpert / NegBio pattern class the trigger re-expresses (docs list them).
    """

    pattern: str
    category: Category
    direction: Direction = Direction.FORWARD
    max_words: int | None = None   # scope limit in words (None: to the end of the clause)
    comma_bounded: bool = False    # weak trigger: its scope also stops at a comma
    yields_to_negation: bool = False
    list_comma: bool = False
    source: str = ""


def alternatives(*phrases: str) -> str:
    """One regex alternation, longest fragment first: Python's `|` takes the first alternative that
    matches, so "no" listed before "no evidence of" would hide the longer phrase."""
    return "(?:" + "|".join(sorted(phrases, key=len, reverse=True)) + ")"


N, U, P, T = Category.NEGATED, Category.UNCERTAIN, Category.PSEUDO, Category.TERMINATE
F, B, BI = Direction.FORWARD, Direction.BACKWARD, Direction.BIDIRECTIONAL

_SEEN = r"(?:seen|identified|appreciated|visualized|visualised|demonstrated|evident|present|detected|noted|observed|apparent)"
_BE = r"(?:is|are|was|were|has been|have been)"
_ASSESSED = r"(?:assessed|evaluated|visualized|visualised|seen|appreciated|demonstrated)"

# NegBio's source files, for `TriggerSpec.source`.
NEG = "NegBio negation.txt"
PRE = "NegBio pre_negation_uncertainty.txt"
POST = "NegBio post_negation_uncertainty.txt"
CTX = "ConText (Harkema 2009)"
OWN = "driftalign"

TRIGGERS: tuple[TriggerSpec, ...] = (
    # --- pseudo-triggers: contain a trigger word but do not negate/hedge --------------------
    TriggerSpec(r"no (?:significant |substantial |appreciable |definite |major )?(?:interval )?(?:change|increase|decrease|improvement|worsening|progression)", P, source=CTX),
    TriggerSpec(r"not (?:significantly |appreciably |substantially )?(?:changed|increased|decreased|improved|worsened)", P, source=CTX),
    TriggerSpec(r"without (?:significant |substantial |interval )?(?:change|increase|decrease|worsening)", P, source=CTX),
    TriggerSpec(r"not only", P, source=CTX), TriggerSpec(r"gram[- ]negative", P, source=CTX),
    TriggerSpec(r"no longer intubated", P, source=OWN),
    # "consistent with X" asserts X (CheXpert): "with" here is no termination term.
    TriggerSpec(r"(?:consistent|compatible|in keeping) with", P, source=OWN),
    TriggerSpec(r"with or without", P, source=OWN),
    # --- pre-negation uncertainty (NegBio matches these before negation) ---------------------
    TriggerSpec(r"(?:cannot|can not|can't|could not|couldn't|not|difficult to|unable to) (?:be )?(?:entirely |completely |totally |definitely |fully )?(?:excluded|ruled out)", U, B, source=PRE),
    TriggerSpec(r"(?:is|are|was|were|remains?) (?:difficult|hard|impossible) to (?:exclude|rule out)", U, B, source=PRE),
    TriggerSpec(r"(?:cannot|can not|can't|could not|difficult to|unable to) (?:entirely |completely )?(?:exclude|rule out)", U, F, source=PRE),
    TriggerSpec(r"no new", U, F, source=PRE),           # CheXpert: "no new X" -> uncertain
    TriggerSpec(r"no evidence to rule out", U, F, source=PRE),
    # --- post-negation uncertainty ------------------------------------------------------------
    TriggerSpec(r"(?:may|might|could|can|would) (?:also )?(?:represent|reflect|be|indicate|relate to|include|suggest|be due to|be related to|be secondary to|have|be consistent with|be compatible with)", U, F, source=POST),
    # "XXX could/might/may be present", "XXX should be considered": backward.
    TriggerSpec(r"(?:may|might|could|can|possibly) (?:also )?(?:be )?(?:present|seen|exist)", U, B, source=POST),
    TriggerSpec(r"(?:should|must|may|might|could) (?:also )?be (?:considered|entertained|a consideration)", U, B, source=POST),
    TriggerSpec(r"(?:may|might|could)", U, F, 6, source=POST),
    TriggerSpec(r"(?:possible|possibly|probable|probably|presumed|presumably|presumptive|questionable|question of|questioned|equivocal|indeterminate|suggestion of|maybe)", U, F, source=POST),
    TriggerSpec(r"(?:suspected|suspect|suspicion for|suspicion of|concern for)", U, F, source=POST),
    # post-modifiers of a noun that a negation may already govern ("no consolidation concerning for
    # pneumonia", "no focal opacity to suggest pneumonia", "no ... suspicious opacity ... or ...").
    TriggerSpec(r"(?:suspicious for|suspicious of|concerning for|worrisome for|suggestive of|suggesting|to suggest|suggests|suggest|raises the possibility of|raising the possibility of|possibility of)", U, F, yields_to_negation=True, source=POST),
    TriggerSpec(r"(?:suspicious|worrisome)", U, F, 3, yields_to_negation=True, source=POST),
    TriggerSpec(r"favou?r(?:ed|s|ing)?(?: to (?:represent|reflect|be))?", U, F, source=POST),
    TriggerSpec(r"(?:less likely|more likely|most likely|likely|unlikely|or less likely)", U, F, source=POST),
    # "pneumonia is likely." hedges what precedes; in "opacity is likely atelectasis" the plain
    # forward "likely" applies instead (this backward form only matches at the end of a clause).
    TriggerSpec(r"(?:is|are|appears?|seems?) (?:less |more |most |also )?(?:likely|unlikely|possible|suspected|questioned|considered|a consideration|a possibility)(?=\s*(?:[.,;:]|$))", U, B, source=POST),
    TriggerSpec(r"(?:versus|vs\.?)", U, BI, 3, comma_bounded=True, source=POST),
    # CheXpert's "XXX or YYY" / "and/or" rule: both alternatives uncertain, unless negated
    # ("no effusion or pneumothorax": negation first, as in NegBio).
    TriggerSpec(r"(?:and/or|or)", U, BI, 3, comma_bounded=True, yields_to_negation=True, source=POST),
    TriggerSpec(r"(?:differential diagnosis (?:includes|would include)|differential includes|differential considerations include|consider|considered|consideration of)", U, F, source=POST),
    TriggerSpec(r"(?:to )?(?:rule out|r/o|evaluate for|assess for|eval for|evaluation for)", U, F, source=POST),
    TriggerSpec(r"(?:clinical correlation|correlate clinically|correlate|clinically correlate)(?: is recommended)? (?:for|with)", U, F, source=POST),
    # "XXX is poorly / incompletely evaluated", "not well visualized", "not clearly seen",
    # "cannot be assessed": uncertain (CheXpert post-negation rules), what precedes.
    TriggerSpec(r"(?:is|are|was|were)? ?(?:not (?:well |clearly |fully |entirely )|less (?:well |clearly )|poorly |incompletely )" + _ASSESSED, U, B, source=POST),
    TriggerSpec(r"(?:cannot|can not|can't|could not|difficult to|unable to) (?:be )?(?:adequately |fully |well )?(?:assess|assessed|evaluate|evaluated)", U, B, source=POST),
    TriggerSpec(r"borderline", U, F, 4, source=POST),
    # --- negation -------------------------------------------------------------------------------
    TriggerSpec(alternatives(
        "no", "without", "absence of", "negative for", "free of", "clear of", "resolution of", "interval resolution of",
        "interval removal of", "removal of", "rather than", "no evidence of", "no radiographic evidence of", "no definite",
        "no definitive", "no convincing", "no obvious", "no focal", "no signs? of", "no findings? (?:of|to suggest|suggestive of)",
        "not", "nor", "neither", "no longer", "there is no", "there are no", "free from", "disappearance of", "clearing of",
        "clearance of", "no focus of", "no area of", "no development of", "without development of", "without evidence of",
    ), N, F, source=NEG),
    TriggerSpec(_BE + r"? ?(?:not|no longer) (?:been )?" + _SEEN, N, B, source=NEG),
    TriggerSpec(r"(?:has|have) (?:since |nearly |almost |completely |largely )?(?:resolved|cleared|been removed|been resolved|disappeared|been discontinued)", N, B, source=NEG),
    # "resolved pneumothorax" and "pneumothorax is resolved"; "... following chest tube removal".
    TriggerSpec(r"(?:resolved|removed|cleared)", N, BI, 4, comma_bounded=True, source=NEG),
    TriggerSpec(r"(?:absent|excluded|ruled out|removal)", N, B, 4, source=NEG),
    TriggerSpec(r"(?:is|are|was|were|appears?|remains?|otherwise|seems?) (?:now |otherwise |again |also |grossly |essentially |largely )?(?:normal|unremarkable|within normal limits|normal in size|normal size|not enlarged|of normal size|clear(?! of)|top[- ]normal|upper limits of normal)", N, B, source=NEG),
    TriggerSpec(r"(?:within normal limits|normal in size|not (?:enlarged|widened|dilated)|of normal size|top[- ]normal|at the upper limits? of normal|upper limits? of normal|wnl)", N, B, 5, source=NEG),
    TriggerSpec(r"(?:normal|unremarkable)", N, BI, 4, comma_bounded=True, source=NEG),
    # --- terminations ------------------------------------------------------------------------
    TriggerSpec(r"(?:but|however|although|though|except|aside from|apart from|other than|which|whereas|while|yet|nevertheless|with|otherwise)", T, source=CTX),
    TriggerSpec(r";", T, source=CTX),
    # "and the ...", "and there is ...", "and a small effusion ...": a new clause or item with its
    # own subject (a negated list repeats no article: "no effusion and pneumothorax").
    TriggerSpec(r"(?:and|,) (?:the|there|this|these|a|an)", T, source=OWN),
    # "no pneumothorax is seen and ...": the negated clause is complete; what follows "and" is new.
    TriggerSpec(r"(?:seen|identified|noted|present|demonstrated|visuali[sz]ed|evident|appreciated),? and", T, source=OWN),
    # ", small left effusion": a comma followed by a severity/temporal adjective starts a new item
    # that is asserted, not part of a negated list (driftalign addition to ConText) — unless the
    # negated list goes on to "or"/"nor" ("no consolidation, large effusion, or pneumothorax").
    TriggerSpec(r", (?:and )?(?=(?:small|moderate|large|mild|mildly|severe|new|increas\w*|worsen\w*|persistent|stable|trace|unchanged|improv\w*|decreas\w*|residual|minimal|layering)\b)", T, list_comma=True, source=OWN),
)
