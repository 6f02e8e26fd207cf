"""The labeler's regex prefilter (labeling/prefilter.py): literal prefixes, and never a lost match."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

from driftalign.labeling.context import _GUARDED as TRIGGER_REGEXES
from driftalign.labeling.context import flexible_spaces
from driftalign.labeling.mentions import _GUARDED as PHRASE_REGEXES
from driftalign.labeling.prefilter import Prefilter, literal_prefixes

DATA = Path(__file__).parent / "data"


def test_literal_prefixes_of_hand_made_patterns():
    assert literal_prefixes(r"(?<![a-z0-9])(?:(?:lobar +|lobe +)?collapsed?|atelecta\w*)(?![a-z0-9])") == {
        "lobar ", "lobe ", "collapse", "atelecta"}                   # lookarounds skipped, " +" ends a prefix
    assert literal_prefixes(r"[ab]c") == {"ac", "bc"}                  # a small literal class is expanded
    assert literal_prefixes(r"(?:x)?yz") == {"x", "yz"}                # optional part: with or without it
    assert literal_prefixes(r"no(?: evidence)? of") == {"no evide", "no of"}
    assert literal_prefixes(r"no|no evidence") == {"no"}               # "no" is implied by "no evide...": shortest kept
    assert literal_prefixes(r"pneumothoraces") == {"pneumoth"}         # at most MAX_PREFIX characters
    assert literal_prefixes(r"\w+itis") is None                        # a category first: no usable prefix
    assert literal_prefixes(r"(?:a|\d)b") is None                      # one alternative without a prefix
    assert literal_prefixes(re.compile("abc", re.IGNORECASE)) is None  # case-insensitive: not handled
    assert Prefilter("effusion|pneumo").may_match("small pneumothorax")
    assert not Prefilter("effusion|pneumo").may_match("heart size is normal")


def test_an_optional_space_stays_optional_in_flexible_patterns():
    assert flexible_spaces("was ?not") == "was *not"
    assert flexible_spaces("a  +b") == "a + +b"
    assert re.fullmatch(flexible_spaces("(?:is)? ?not seen"), "not seen")
    assert re.fullmatch(flexible_spaces("(?:is)? ?not seen"), "is \n not  seen".replace("\n", " "))


def _texts() -> list[str]:
    texts = []
    for name in ("real_style_sentences.jsonl", "real_style_reports.jsonl"):
        texts += [json.loads(line)["text"].lower() for line in (DATA / name).read_text().splitlines() if line.strip()]
    rng = random.Random(0)
    mutated = []
    for t in texts:   # character-level damage: deletions, doubled spaces, swapped neighbours
        chars = list(t)
        for _ in range(3):
            i = rng.randrange(len(chars))
            op = rng.randrange(3)
            if op == 0:
                del chars[i]
            elif op == 1:
                chars.insert(i, " ")
            elif i + 1 < len(chars):
                chars[i], chars[i + 1] = chars[i + 1], chars[i]
        mutated.append("".join(chars))
    return texts + mutated


def test_the_prefilter_never_rules_out_a_text_a_regex_matches():
    texts = _texts()
    regexes = [(regex, prefixes) for _, regex, prefixes in PHRASE_REGEXES]
    regexes += [(regex, prefixes) for _, regex, prefixes, _ in TRIGGER_REGEXES]
    skipped = matched = 0
    for regex, prefixes in regexes:
        for text in texts:
            if prefixes is not None and not any(p in text for p in prefixes):
                skipped += 1
                assert regex.search(text) is None, (regex.pattern[:60], text)
            elif regex.search(text):
                matched += 1
    assert skipped > 10 * matched   # and it does rule out most (pattern, text) pairs
