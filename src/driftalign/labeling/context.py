"""A ConText-style modifier algorithm (Harkema et al., J Biomed Inform 2009), compiled once.

1. Every trigger term of `patterns.TRIGGERS` is found in the text; where two matches overlap the
   longer one wins ("cannot be excluded" over "excluded", "no change" (pseudo) over "no").
2. Each trigger gets a scope inside its sentence: a forward trigger modifies the text after it,
   a backward trigger the text before it, a bidirectional one both. A scope ends at the sentence
   end, at a termination term ("but", "however", "which", "with", ";", ...), at a trigger of a
   different category (ConText's rule: "no effusion, possible pneumonia" -> the negation stops at
   "possible"), after `max_words` words for short-range triggers, and at a comma for weak triggers.
   Two exceptions keep a negated list whole, as NegBio's conjunction propagation does: an
   uncertainty trigger that `yields_to_negation` (a post-negation rule such as "suspicious",
   "concerning for", "or") does not end a negation's scope, and a `list_comma` terminator
   (", large effusion") does not either when the clause goes on to "or"/"nor".
3. A mention takes the category of the closest trigger whose scope covers it (none: asserted) —
   except that a negation covering it beats a closer `yields_to_negation` trigger (NegBio applies
   negation rules before post-negation uncertainty rules).
Pseudo-triggers ("no change", "not well assessed") are matched only so that their words are not
read as triggers; they modify nothing.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from driftalign.labeling.prefilter import literal_prefixes
from driftalign.labeling.patterns import TRIGGERS, Category, Direction, TriggerSpec
from driftalign.labeling.text import Span, WordIndex, word_matches


def flexible_spaces(pattern: str) -> str:
    """A pattern whose literal spaces match runs of spaces, so that hard-wrapped reports
    ("cannot\\n  be excluded") match: `text.lowercase` turns every whitespace character into a
    space, keeping offsets, and this turns " " into " +" and an optional " ?" into " *" (a space
    with another quantifier keeps it) — except inside character classes and lookbehinds, which must
    keep a fixed width."""
    out: list[str] = []
    in_class = escaped = skip = False
    depth, lookbehind_depth = 0, -1   # paren depth; depth at which a lookbehind opened (-1: none)
    for i, ch in enumerate(pattern):
        if skip:
            skip = False
            continue
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(":
            depth += 1
            if lookbehind_depth < 0 and pattern.startswith(("(?<!", "(?<="), i):
                lookbehind_depth = depth
        elif ch == ")":
            if depth == lookbehind_depth:
                lookbehind_depth = -1
            depth -= 1
        elif ch == " " and lookbehind_depth < 0:
            following = pattern[i + 1:i + 2]
            if following == "?":      # an optional space: an optional run (" ?" must not become " +?")
                out.append(" *")
                skip = True
            else:                     # a quantified space keeps its quantifier
                out.append(" " if following in ("*", "+", "{") else " +")
            continue
        out.append(ch)
    return "".join(out)


def _bounded(pattern: str) -> str:
    """Add the trailing word boundary (letters/digits); the leading one is checked by
    `text.word_matches` (faster than a lookbehind). Punctuation-led patterns have neither."""
    if pattern[0] in ",;":
        return flexible_spaces(pattern)
    return rf"(?:{flexible_spaces(pattern)})(?![a-z0-9])"


_COMPILED: tuple[tuple[TriggerSpec, re.Pattern[str]], ...] = tuple(
    (spec, re.compile(_bounded(spec.pattern))) for spec in TRIGGERS
)
# (spec, regex, literal prefixes or None, punctuation-led): `find_triggers` searches a spec only if one
# of its prefixes occurs in the text (`prefilter`; never changes a result)
_GUARDED = tuple((spec, regex, literal_prefixes(regex), spec.pattern[0] in ",;") for spec, regex in _COMPILED)
_LIST_GOES_ON = re.compile(r"(?<![a-z0-9])(?:or|nor)(?![a-z0-9])")


@dataclass(frozen=True)
class Trigger:
    """A trigger found in a text, with its resolved scope (character offsets into the text)."""

    spec: TriggerSpec
    start: int
    end: int
    sentence_index: int
    scope_start: int = -1   # backward scope: [scope_start, start)
    scope_end: int = -1     # forward scope: [end, scope_end)

    @property
    def category(self) -> Category:
        return self.spec.category

    @property
    def modifies(self) -> bool:
        return self.spec.category in (Category.NEGATED, Category.UNCERTAIN)


def _longest_non_overlapping(found: list[tuple[int, int, TriggerSpec]]) -> list[tuple[int, int, TriggerSpec]]:
    kept: list[tuple[int, int, TriggerSpec]] = []
    for start, end, spec in sorted(found, key=lambda f: (f[0] - f[1], f[0])):
        if all(end <= s or start >= e for s, e, _ in kept):
            kept.append((start, end, spec))
    return sorted(kept, key=lambda f: f[0])


def _sentence_of(sentences: list[Span], starts: list[int], pos: int) -> int:
    return max(bisect.bisect_right(starts, pos) - 1, 0)


def _stops(other: Trigger, trig: Trigger) -> bool:
    """Does `other` end `trig`'s scope? Terminations always; a trigger of another category too,
    except a post-negation uncertainty trigger inside a negation's scope (`yields_to_negation`)."""
    if other.category is Category.TERMINATE:
        return True
    if trig.category is Category.NEGATED and other.spec.yields_to_negation:
        return False
    return other.modifies and other.category is not trig.category


def _list_goes_on(comma: Trigger, later: list[Trigger], sentence: Span, text: str) -> bool:
    """Does the clause after a `list_comma` terminator continue the list to an "or"/"nor" item?"""
    end = sentence.end
    for other in later:
        if other.start > comma.start and other.category is Category.TERMINATE and not other.spec.list_comma:
            end = other.start
            break
    return _LIST_GOES_ON.search(text, comma.end, end) is not None


def _forward_end(trig: Trigger, same_sentence: list[Trigger], sentence: Span, text: str, words: WordIndex) -> int:
    limit = sentence.end
    for other in same_sentence:
        if other.start >= trig.end and _stops(other, trig):
            if (other.spec.list_comma and trig.category is Category.NEGATED
                    and _list_goes_on(other, same_sentence, sentence, text)):
                continue
            limit = min(limit, other.start)
            break
    if trig.spec.max_words is not None:
        limit = min(limit, words.offset_after(trig.end, trig.spec.max_words))
    if trig.spec.comma_bounded:
        comma = text.find(",", trig.end, limit)
        limit = comma if comma >= 0 else limit
    return limit


def _backward_start(trig: Trigger, same_sentence: list[Trigger], sentence: Span, text: str, words: WordIndex) -> int:
    limit = sentence.start
    for other in reversed(same_sentence):
        if other.end <= trig.start and _stops(other, trig):
            limit = max(limit, other.end)
            break
    if trig.spec.max_words is not None:
        limit = max(limit, words.offset_before(trig.start, trig.spec.max_words))
    if trig.spec.comma_bounded:
        comma = text.rfind(",", limit, trig.start)
        limit = comma + 1 if comma >= 0 else limit
    return limit


def find_triggers(text: str, sentences: list[Span], words: WordIndex, exclude: list[tuple[int, int]] = ()) -> list[Trigger]:
    """All triggers of `text` (already lowercased, `text.lowercase`) with their scopes; matches
    overlapping an `exclude` span are dropped."""
    found = [
        (m.start(), m.end(), spec)
        for spec, regex, prefixes, punctuation in _GUARDED
        if prefixes is None or any(map(text.__contains__, prefixes))
        for m in (regex.finditer(text) if punctuation else word_matches(regex, text))
        if m.end() > m.start() or spec.category is Category.TERMINATE
    ]
    found = [f for f in _longest_non_overlapping(found) if all(f[1] <= s or f[0] >= e for s, e in exclude)]
    starts = [s.start for s in sentences]
    raw = [Trigger(spec, s, e, _sentence_of(sentences, starts, s)) for s, e, spec in found]
    # Every trigger (terminations included) stays in `by_sentence`: they bound the scopes.
    by_sentence: dict[int, list[Trigger]] = {}
    for t in raw:
        by_sentence.setdefault(t.sentence_index, []).append(t)
    resolved = []
    for t in raw:
        if not t.modifies:
            continue
        sentence, same = sentences[t.sentence_index], by_sentence[t.sentence_index]
        fwd = t.spec.direction in (Direction.FORWARD, Direction.BIDIRECTIONAL)
        bwd = t.spec.direction in (Direction.BACKWARD, Direction.BIDIRECTIONAL)
        resolved.append(Trigger(
            t.spec, t.start, t.end, t.sentence_index,
            scope_start=_backward_start(t, same, sentence, text, words) if bwd else -1,
            scope_end=_forward_end(t, same, sentence, text, words) if fwd else -1,
        ))
    return resolved


def modifier_for(start: int, end: int, sentence_index: int, triggers: list[Trigger]) -> Trigger | None:
    """The closest trigger whose scope covers the span [start, end) (None: the span is asserted);
    a covering negation beats a closer `yields_to_negation` trigger (module docstring, rule 3)."""
    best: tuple[int, Trigger] | None = None
    best_negation: tuple[int, Trigger] | None = None
    for t in triggers:
        if t.sentence_index != sentence_index:
            continue
        if t.scope_end >= 0 and t.end <= start < t.scope_end:
            distance = start - t.end
        elif t.scope_start >= 0 and t.scope_start <= start and end <= t.start:
            distance = t.start - end
        else:
            continue
        if best is None or distance < best[0]:
            best = (distance, t)
        if t.category is Category.NEGATED and (best_negation is None or distance < best_negation[0]):
            best_negation = (distance, t)
    if best is None:
        return None
    if best[1].spec.yields_to_negation and best_negation is not None:
        return best_negation[1]
    return best[1]
