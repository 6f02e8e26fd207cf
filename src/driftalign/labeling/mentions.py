"""Mention extraction: observation phrases found in a report, each with its ConText value.

A mention is one matched phrase (see `patterns.PHRASE_SETS`) with value 1 (positive), 0 (negated)
or -1 (uncertain), its sentence, its character span in the text, and the side/location words
around it. `extract_mentions` returns the mentions of the 14 CheXpert observations;
`find_all_mentions` also returns the internal "other finding" mentions the labeler needs for
No Finding.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from driftalign.labeling.anatomy import side_and_location
from driftalign.labeling.context import Trigger, find_triggers, flexible_spaces, modifier_for
from driftalign.labeling.patterns import (
    ATTRIBUTE_WINDOW_WORDS,
    BENIGN_EXPLANATION,
    BENIGN_OBSERVATIONS,
    ENLARGEMENT_TERMS,
    OTHER_FINDING,
    PHRASE_SETS,
    POSITIONAL_PREFIX,
    STABILITY_TERMS,
    Category,
    MentionKind,
    PhraseSet,
)
from driftalign.labeling.prefilter import literal_prefixes
from driftalign.labeling.sections import mask_skipped
from driftalign.labeling.text import Span, WordIndex, lowercase, split_sentences

POSITIVE, NEGATIVE, UNCERTAIN = 1, 0, -1


@dataclass(frozen=True)
class Mention:
    """One observation mention in a report.

    observation: CheXpert name (constants.OBSERVATIONS).   value: 1 positive, 0 negative, -1 uncertain.
    sentence_index / sentence: which sentence of the text (0-based) and its text.
    start / end: character span of the matched phrase in the text (text[start:end] == phrase).
    side: "left" | "right" | "bilateral" | None.   location: normalised region or None.
    phrase: the matched text.   trigger: the ConText trigger that set the value (None if asserted).
    """

    observation: str
    value: int
    sentence_index: int
    sentence: str
    start: int
    end: int
    side: str | None = None
    location: str | None = None
    phrase: str = ""
    trigger: str | None = None


def _alternation(phrases: tuple[str, ...] | list[str]) -> re.Pattern[str]:
    body = "|".join(f"(?:{flexible_spaces(p)})" for p in phrases)
    # Matched on lowercased text. The leading lookbehind stays here (unlike the triggers, see
    # `text.word_matches`): phrases such as "port", "lines", "leads" occur inside longer words so
    # often that retrying those matches costs more than the lookbehind.
    return re.compile(rf"(?<![a-z0-9])(?:{body})(?![a-z0-9])")


_PHRASE_REGEXES: tuple[tuple[PhraseSet, re.Pattern[str]], ...] = tuple((ps, _alternation(ps.phrases)) for ps in PHRASE_SETS)
# (phrase set, regex, its literal prefixes or None): a set is searched only if one of its prefixes is in the text
_GUARDED = tuple((ps, regex, literal_prefixes(regex)) for ps, regex in _PHRASE_REGEXES)
_POSITIONAL = re.compile(flexible_spaces(POSITIONAL_PREFIX))
_BENIGN = _alternation((BENIGN_EXPLANATION,))
_ENLARGEMENT = _alternation(ENLARGEMENT_TERMS)
_STABILITY = _alternation(STABILITY_TERMS)


@dataclass
class _Doc:
    """A report prepared once: sentences, word offsets, triggers. `low` is the lowercased text
    (same offsets) that every regex runs on; `text` is the original, for the returned strings."""

    text: str
    low: str
    sentences: list[Span]
    sentence_starts: list[int]
    words: WordIndex
    triggers: list[Trigger]
    anatomy: bool = True   # read side/location (not needed for labels: `labeler` skips it)

    def sentence_index(self, pos: int) -> int:
        return max(bisect.bisect_right(self.sentence_starts, pos) - 1, 0)


def _qualifier_value(doc: _Doc, match: re.Match[str], idx: int, value: int) -> int:
    """A qualifier word's value, itself modified by ConText ("may be enlarged", "not widened")."""
    trigger = modifier_for(match.start(), match.end(), idx, doc.triggers)
    if trigger is None:
        return value
    return NEGATIVE if trigger.category is Category.NEGATED else UNCERTAIN


def _attribute_value(doc: _Doc, idx: int, start: int, end: int) -> int | None:
    """Value of an unmodified ATTRIBUTE mention from qualifier words near it (None: no mention)."""
    sentence = doc.sentences[idx]
    lo = max(sentence.start, doc.words.offset_before(start, ATTRIBUTE_WINDOW_WORDS))
    hi = min(sentence.end, doc.words.offset_after(end, ATTRIBUTE_WINDOW_WORDS))
    for regex, value in ((_ENLARGEMENT, POSITIVE), (_STABILITY, UNCERTAIN)):
        for lo_, hi_ in ((end, hi), (lo, start)):
            match = regex.search(doc.low, lo_, hi_)
            if match is not None:
                return _qualifier_value(doc, match, idx, value)
    return None


def _value(kind: MentionKind, trigger: Trigger | None) -> int | None:
    """Mention value from its kind and its ConText modifier (ATTRIBUTE without one: decided later)."""
    if trigger is not None:
        return NEGATIVE if trigger.category is Category.NEGATED else UNCERTAIN
    if kind is MentionKind.HEDGED:
        return UNCERTAIN
    if kind is MentionKind.ATTRIBUTE:
        return None
    return POSITIVE


def _is_positional(doc: _Doc, sentence: Span, start: int) -> bool:
    return _POSITIONAL.search(doc.low[max(sentence.start, start - 30):start]) is not None


def _mention(doc: _Doc, phrase_set: PhraseSet, match: re.Match[str]) -> Mention | None:
    start, end = match.span()
    idx = doc.sentence_index(start)
    sentence = doc.sentences[idx]
    trigger = None
    if phrase_set.kind is MentionKind.NORMAL:
        value: int | None = POSITIVE
    else:
        if phrase_set.kind is MentionKind.ATTRIBUTE and _is_positional(doc, sentence, start):
            return None
        trigger = modifier_for(start, end, idx, doc.triggers)
        value = _value(phrase_set.kind, trigger)
        if value is None:
            value = _attribute_value(doc, idx, start, end)
    if value is None:
        return None
    side, location = side_and_location(doc.low, sentence, start, end, doc.words) if doc.anatomy else (None, None)
    return Mention(
        observation=phrase_set.observation, value=value, sentence_index=idx,
        sentence=doc.text[sentence.start:sentence.end].strip(), start=start, end=end,
        side=side, location=location, phrase=doc.text[start:end],
        trigger=doc.text[trigger.start:trigger.end] if trigger else None,
    )


def _explained_as_benign(doc: _Doc, mention: Mention) -> bool:
    """An asserted lesion/opacity that its sentence, after it, explains as a look-alike
    ("nodular densities consistent with old granulomatous disease", `patterns.BENIGN_EXPLANATION`)."""
    if mention.value != POSITIVE or mention.observation not in BENIGN_OBSERVATIONS:
        return False
    return _BENIGN.search(doc.low, mention.end, doc.sentences[mention.sentence_index].end) is not None


def _dedupe(mentions: list[Mention]) -> list[Mention]:
    """Within one observation keep the longest of overlapping mentions; order by position."""
    kept: list[Mention] = []
    for m in sorted(mentions, key=lambda m: (m.start - m.end, m.start)):
        if all(k.observation != m.observation or m.end <= k.start or m.start >= k.end for k in kept):
            kept.append(m)
    return sorted(kept, key=lambda m: (m.start, m.observation))


def find_all_mentions(text: str, *, anatomy: bool = True) -> list[Mention]:
    """Mentions of the 14 observations plus internal `OTHER_FINDING` mentions, in text order.

    anatomy=False leaves `side`/`location` None: the report labels do not need them, and reading
    them is a fifth of the labeler's time."""
    sentences = split_sentences(text)
    if not sentences:
        return []
    low = mask_skipped(text, lowercase(text))
    matches = [(ps, m) for ps, regex, prefixes in _GUARDED
               if prefixes is None or any(map(low.__contains__, prefixes)) for m in regex.finditer(low)]
    normal_spans = [m.span() for ps, m in matches if ps.kind is MentionKind.NORMAL]
    words = WordIndex(text)
    triggers = find_triggers(low, sentences, words, normal_spans)
    doc = _Doc(text, low, sentences, [s.start for s in sentences], words, triggers, anatomy)
    mentions = [mention for ps, m in matches if (mention := _mention(doc, ps, m)) is not None]
    return _dedupe([m for m in mentions if not _explained_as_benign(doc, m)])


def extract_mentions(text: str) -> list[Mention]:
    """Every mention of one of the 14 CheXpert observations in `text`, in text order.

    No Finding appears only as a positive mention of a normal-study phrase ("no acute
    cardiopulmonary process"); the No Finding *label* is derived by `label_reports`.
    """
    return [m for m in find_all_mentions(text) if m.observation != OTHER_FINDING]
