"""Natural-language generation metrics: BLEU-1..4, ROUGE-L, METEOR, CIDEr (pycocoevalcap).

Preprocessing follows the R2Gen family (Chen et al. 2020, `clean_report_mimic_cxr` in R2Gen's
`modules/tokenizers.py`, reused by R2GenCMN, PromptMRG and DEER): see `clean_report`. Scores are
computed exactly as R2Gen's `compute_scores`: pycocoevalcap scorers on {i: [reference]},
{i: [prediction]} of the cleaned texts, corpus-level, no PTB tokenizer. (R2Gen additionally maps
words below its vocabulary threshold to <unk>; we do not, since we score text, not token ids.)

METEOR runs the jar bundled with pycocoevalcap (Java required; ~8 s JVM start): one scorer per
process, created lazily on first use. Without `java` on PATH, METEOR is skipped with a warning
(value None) unless `require_meteor=True`.
"""

from __future__ import annotations

import re
import shutil
import threading
import warnings
from typing import Any

from driftalign.errors import DriftalignError

NLG_KEYS: tuple[str, ...] = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "ROUGE-L", "METEOR", "CIDEr")

# R2Gen's sentence cleaner character class, verbatim: note that ":-\[" is a character *range*
# (':' .. '[', i.e. :;<=>?@, A-Z and '['), so '-' itself is kept ("left-sided" stays one word).
_SENTENCE_PUNCT = re.compile(r"[.,?;*!%^&_+():-\[\]{}]")
_NUMBERED_ITEMS = (("1. ", ""), (". 2. ", ". "), (". 3. ", ". "), (". 4. ", ". "), (". 5. ", ". "),
                   (" 2. ", ". "), (" 3. ", ". "), (" 4. ", ". "), (" 5. ", ". "))


def _collapse(text: str, pair: str, times: int) -> str:
    for _ in range(times):
        text = text.replace(pair, pair[0])
    return text


def _clean_sentence(sentence: str) -> str:
    for ch in ('"', "/", "\\", "'"):
        sentence = sentence.replace(ch, "")
    return _SENTENCE_PUNCT.sub("", sentence.strip().lower())


def clean_report(text: str) -> str:
    """R2Gen `clean_report_mimic_cxr`: lowercase, numbered-list markers removed, sentences split on
    '. ', punctuation except the sentence-final ' .' stripped, sentences joined with ' . '.

    >>> clean_report("1. Small left effusion.  2. No pneumothorax (new).")
    'small left effusion . no pneumothorax new .'
    """
    text = text.replace("\n", " ")
    text = _collapse(text, "__", 7)
    text = _collapse(text, "  ", 6)
    text = _collapse(text, "..", 8)
    for old, new in _NUMBERED_ITEMS:
        text = text.replace(old, new)
    sentences = text.strip().lower().split(". ")
    tokens = [cleaned for s in sentences if (cleaned := _clean_sentence(s))]
    return " . ".join(tokens) + " ."


class _MeteorHolder:
    """One METEOR scorer (one JVM) per process, created on first use."""

    _lock = threading.Lock()
    _scorer: Any = None

    @classmethod
    def get(cls) -> Any:
        with cls._lock:
            if cls._scorer is None:
                from pycocoevalcap.meteor.meteor import Meteor

                cls._scorer = Meteor()
            return cls._scorer


def java_available() -> bool:
    return shutil.which("java") is not None


def meteor_score(references: list[str], hypotheses: list[str]) -> float:
    """Corpus METEOR 1.5 of already-cleaned texts (pycocoevalcap's bundled jar)."""
    gts = {i: [r] for i, r in enumerate(references)}
    res = {i: [h] for i, h in enumerate(hypotheses)}
    score, _ = _MeteorHolder.get().compute_score(gts, res)
    return float(score)


def _coco_scores(references: list[str], hypotheses: list[str]) -> dict[str, float]:
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    gts = {i: [r] for i, r in enumerate(references)}
    res = {i: [h] for i, h in enumerate(hypotheses)}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    rouge, _ = Rouge().compute_score(gts, res)
    cider, _ = Cider().compute_score(gts, res)
    out = {f"BLEU-{n}": float(b) for n, b in enumerate(bleu, start=1)}
    out["ROUGE-L"] = float(rouge)
    out["CIDEr"] = float(cider)
    return out


def nlg_scores(
    references: list[str], hypotheses: list[str], *, meteor: bool = True, require_meteor: bool = False, clean: bool = True
) -> dict[str, float | None]:
    """BLEU-1..4, ROUGE-L, METEOR, CIDEr of hypotheses against references (one reference each)."""
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    if not references:
        raise ValueError("no reports to score")
    if clean:
        references = [clean_report(r) for r in references]
        hypotheses = [clean_report(h) for h in hypotheses]
    scores: dict[str, float | None] = dict(_coco_scores(references, hypotheses))
    scores["METEOR"] = None
    if meteor and java_available():
        scores["METEOR"] = meteor_score(references, hypotheses)
    elif meteor and require_meteor:
        raise DriftalignError("METEOR needs Java (pycocoevalcap runs its bundled jar): install a JRE or pass --no-meteor")
    elif meteor:
        warnings.warn("java not found: METEOR skipped (install a JRE to compute it)", stacklevel=2)
    return {k: scores[k] for k in NLG_KEYS}
