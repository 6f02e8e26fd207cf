"""A cheap necessary condition for a regex to match: the literal strings every match starts with.

The labeler runs ~20 phrase-set regexes and ~45 trigger regexes over every report; most of them
(e.g. "pneumomediastinum", "cannot be excluded") cannot match most reports. CPython's `re` scans
the whole text for each of them, which was half of the labeler's time. `literal_prefixes` reads a
compiled pattern's parse tree once and returns a set of literal strings such that every match of
the pattern begins with one of them (empty set member "" = no usable prefix); `Prefilter.may_match`
then rules a pattern out with a few `str.__contains__` calls. It never changes a result: a pattern
is skipped only when none of its possible first characters-strings occurs anywhere in the text.

Handled parse-tree nodes: literals, groups, alternations, optional/repeated parts, small literal
character classes and zero-width assertions (lookarounds, anchors: skipped). Anything else (a
category such as \\w, a large class, a backreference) ends the prefix where it stands.
"""

from __future__ import annotations

import re

try:  # Python 3.11+: the parser lives in re._parser; sre_parse is its deprecated alias
    from re import _parser as _sre
except ImportError:  # pragma: no cover
    import sre_parse as _sre  # type: ignore[no-redef]

_C = _sre._constants if hasattr(_sre, "_constants") else _sre  # opcodes
MAX_PREFIX = 8        # longer literal prefixes add no selectivity, only work
MAX_ALTERNATIVES = 64  # beyond this many prefixes the check costs more than it saves: no prefilter
_SMALL_CLASS = 4


class _Unbounded(Exception):
    """Too many alternatives: give up on a prefilter for this pattern."""


def _class_literals(items) -> list[str] | None:
    if len(items) > _SMALL_CLASS or any(op is not _C.LITERAL for op, _ in items):
        return None
    return [chr(v) for _, v in items]


def _prefixes(items: list, stop_after: bool = False) -> set[str]:
    """Literal prefixes of any match of the node sequence `items` (each at most MAX_PREFIX long).
    stop_after: what follows `items` is unknown (a repeat), so a prefix ends where they end."""
    for i, (op, arg) in enumerate(items):
        rest = items[i + 1:]
        if op is _C.LITERAL:
            tails = _prefixes(rest, stop_after)
            return _limit({chr(arg) + t for t in tails})
        if op in (_C.ASSERT, _C.ASSERT_NOT, _C.AT):
            continue  # zero-width
        if op is _C.SUBPATTERN:
            _group, add_flags, _del_flags, body = arg
            if add_flags & re.IGNORECASE:
                return {""}
            return _prefixes(list(body) + rest, stop_after)
        if op is _C.BRANCH:
            out: set[str] = set()
            for alternative in arg[1]:
                out |= _prefixes(list(alternative) + rest, stop_after)
            return _limit(out)
        if op is _C.IN:
            letters = _class_literals(arg)
            if letters is None:
                return {""}
            tails = _prefixes(rest, stop_after)
            return _limit({c + t for c in letters for t in tails})
        if op in (_C.MAX_REPEAT, _C.MIN_REPEAT, getattr(_C, "POSSESSIVE_REPEAT", None)):
            lo, hi, body = arg
            once = _prefixes(list(body) + rest, stop_after) if (lo, hi) == (1, 1) else _prefixes(list(body), True)
            if lo == 0:
                return _limit(once | _prefixes(rest, stop_after))
            return once
        return {""}  # a category, a large class, a backreference...: the prefix ends here
    return {""}


def _limit(prefixes: set[str]) -> set[str]:
    out = {p[:MAX_PREFIX] for p in prefixes}
    if len(out) > MAX_ALTERNATIVES:
        raise _Unbounded
    return out


def literal_prefixes(pattern: re.Pattern[str] | str) -> frozenset[str] | None:
    """Literal strings one of which starts every match of `pattern`; None when there is no such
    set worth checking (a match can start with anything, or there are too many)."""
    source = pattern.pattern if isinstance(pattern, re.Pattern) else pattern
    flags = pattern.flags if isinstance(pattern, re.Pattern) else 0
    if flags & re.IGNORECASE:
        return None
    try:
        prefixes = _prefixes(list(_sre.parse(source, flags)))
    except _Unbounded:
        return None
    if "" in prefixes:
        return None
    # a prefix that contains another one is implied by it: keep the shortest
    kept = frozenset(p for p in prefixes if not any(q != p and p.startswith(q) for q in prefixes))
    return kept


class Prefilter:
    """`may_match(text)`: False only if `pattern` cannot match `text` (see module docstring)."""

    __slots__ = ("prefixes",)

    def __init__(self, pattern: re.Pattern[str] | str) -> None:
        self.prefixes = literal_prefixes(pattern)

    def may_match(self, text: str) -> bool:
        if self.prefixes is None:
            return True
        return any(p in text for p in self.prefixes)
