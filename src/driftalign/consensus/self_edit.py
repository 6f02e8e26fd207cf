"""The "self-edit" consensus: t+ = the SPD student's own greedy report, minimally edited by the teachers' vote.

Not in the paper. Follows RLHF-V (Yu et al., CVPR 2024: annotators correct only the hallucinated
segments of the model's own answer) and CLAIR (D'Oosterlinck et al., TACL 2025: minimal revisions):
a positive that is the policy's own text, changed only where it is wrong, stays on-policy and shares
the student's style, so APO's contrast is about content (OPA-DPO, Yang et al., CVPR 2025: an
off-policy preferred response is hard to learn under DPO's implicit KL). Label-free: it
reads the student's report and the teachers' majority vote (`consensus.vote`), never the study labels.

Every claim of the student's report (labeler mention: finding, polarity, side; hedges mapped by the
vote's `uncertain` policy) gets a verdict against the vote's kept claims (`claim_verdict`):

* agrees       — a kept (finding, polarity), on the kept side or without a side;
* contradicted — the finding is kept with another polarity (a negative on the other side than a kept
                 lateralised finding — "no right effusion" beside a kept left effusion — is neutral);
                 or "No Finding" asserted while the majority keeps a present/uncertain finding;
* wrong_side   — a kept present/uncertain (finding, polarity) put on another side than the kept side;
* unsupported  — a finding asserted present/uncertain that the majority does not keep;
* neutral      — a pertinent negative the majority does not mention, or "No Finding" when the
                 majority keeps nothing present/uncertain (neither right nor wrong; `errors_against`
                 does not count these either).

Edit, sentence by sentence (the labeler's sentences, `labeling.text.split_sentences`):
1. REMOVE every sentence with a contradicted, wrong_side or unsupported claim, or that is
   sign-inconsistent (an opacity called dark/lucent, a pneumothorax called white:
   `claims.sign_inconsistent`, the vote never copies those either). Removal is line-aware so the
   student's markdown survives: a removed sentence's text is cut from its first word (its list
   marker stays) to its end plus the spaces after it; a line left with only a list marker or
   whitespace is dropped; a "Heading:" line glued to the removed sentence by the splitter is kept,
   but a heading whose whole section was dropped goes too; numbered lists are renumbered from 1.
2. ADD every kept claim that no remaining sentence states (agrees) — omitted by the student, or
   stated only in a removed sentence — as the vote's sentence for it (`KeptClaim.sentence`,
   rendered as the vote renders it: decoration stripped, terminal full stop; a vote sentence
   covering several omitted claims is added once), in vote order. A kept claim without a vote
   sentence (every supporting sentence also states a minority claim) stays unstated, as in the vote.
   Placement: before the report's conclusion — the first sentence starting with Impression,
   Conclusion, Summary, In summary/conclusion, Overall, Therefore, Thus, Final answer/impression/
   diagnosis, Diagnosis or These findings/features — else at the end. Added sentences go right
   before the conclusion when it starts mid-line; otherwise after the last remaining non-blank line
   before it: as new list items with the same marker (numbers continued) when that line is a list
   item, on a new line under it when it is a heading, one per line when that line and the one above
   it hold one sentence each, appended to its paragraph otherwise.
3. Everything else is kept verbatim, in order.

When no sentence of the student that states a claim survives (the report states nothing, or only
wrong things), t+ is the vote's text (`VoteResult.text`): claim-free filler ("Looking at this
radiograph, ...") alone is not a report, and nothing of the student's is left to keep on-policy.
`SelfEdit.fallback` says so. If the vote is empty too, t+ is "" (APO skips such rows).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from driftalign.consensus.claims import clean_sentence, join_sentences
from driftalign.consensus.vote import VOTE_UNCERTAIN, KeptClaim, VoteResult
from driftalign.labeling.claims import Claim, claims_from_mentions, sign_inconsistent
from driftalign.labeling.uncertain import UncertainPolicy, label_class

NO_FINDING = "No Finding"
AGREES, NEUTRAL = "agrees", "neutral"
CONTRADICTED, WRONG_SIDE, UNSUPPORTED, SIGN = "contradicted", "wrong_side", "unsupported", "sign"
ERROR_VERDICTS = (CONTRADICTED, WRONG_SIDE, UNSUPPORTED)  # the claims that make a sentence wrong

_CONCLUSION = re.compile(r"(?:impressions?|conclusions?|summary|in summary|in conclusion|overall|therefore|thus"
                         r"|final (?:answer|impression|diagnosis)|diagnosis|these (?:features|findings))\b",
                         re.IGNORECASE)
_SENTENCE_STOP = re.compile(r"[.?!](?=\s|$)")
# A line's leading list marker or markdown decoration ("- ", "* ", "1. ", "2) ", "### ", "> ").
_LEAD = re.compile(r"[ \t]*(?:(?:[-*\u2022>]|#+|\d+[.)])[ \t]+)?")
_ONLY_DECORATION = re.compile(r"[\s\-*\u2022#>]*(?:\d+[.)])?[\s\-*\u2022#>]*")
_BULLET = re.compile(r"([ \t]*)([-*\u2022])[ \t]+\S")
_NUMBERED = re.compile(r"([ \t]*)(\d+)([.)])([ \t]+)")


def _polarity(value: int, uncertain: UncertainPolicy | str) -> int:
    return value if value != -1 else label_class(-1, uncertain)


def _disjoint_sides(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a != b and "bilateral" not in (a, b)


def claim_verdict(claim: Claim, kept: dict[str, KeptClaim], uncertain: UncertainPolicy | str = VOTE_UNCERTAIN) -> str:
    """One of agrees / neutral / contradicted / wrong_side / unsupported (module docstring).
    `kept`: finding -> the vote's kept claim; the claim's -1 is mapped by `uncertain` as the vote maps it."""
    p = _polarity(claim.polarity, uncertain)
    if claim.finding == NO_FINDING and NO_FINDING not in kept:
        abnormal = any(k.polarity != 0 for f, k in kept.items() if f != NO_FINDING)
        return CONTRADICTED if p != 0 and abnormal else NEUTRAL
    k = kept.get(claim.finding)
    if k is None:
        return UNSUPPORTED if p != 0 else NEUTRAL
    if k.polarity == p:
        if p != 0 and k.side is not None and claim.side is not None and claim.side != k.side:
            return WRONG_SIDE
        return AGREES
    if p == 0 and k.polarity != 0 and _disjoint_sides(claim.side, k.side):
        return NEUTRAL  # "no right effusion" beside the majority's left effusion
    return CONTRADICTED


def render_sentence(sentence: str) -> str:
    """A vote sentence as the vote writes it into t+ (decoration stripped, terminal punctuation)."""
    return join_sentences([sentence])


@dataclass
class SelfEdit:
    """The edited report and what changed."""

    text: str                       # t+
    original: str                   # the student's report
    removed: list[dict[str, Any]] = field(default_factory=list)   # {"sentence", "reason", "claims"}
    added: list[dict[str, Any]] = field(default_factory=list)     # {"sentence", "findings"}
    unstated: list[str] = field(default_factory=list)             # omitted kept claims without a vote sentence
    fallback: bool = False          # t+ is the vote's text (no claim-bearing sentence of the student survived)

    @property
    def changed(self) -> bool:
        return " ".join(self.text.split()) != " ".join(self.original.split())

    def details(self) -> dict[str, Any]:
        return {"student_text": self.original, "removed": self.removed, "added": self.added,
                "unstated": self.unstated, "fallback": self.fallback, "changed": self.changed}


def _claims_by_sentence(text: str) -> tuple[list[tuple[int, int]], dict[int, list[Claim]], list[int]]:
    """(sentence spans, sentence index -> its claims, character offsets of the mentions)."""
    from driftalign.labeling import extract_mentions
    from driftalign.labeling.text import split_sentences

    spans = [(s.start, s.end) for s in split_sentences(text)]
    mentions = extract_mentions(text)
    by_sentence: dict[int, list[Claim]] = {}
    for c in claims_from_mentions(mentions):
        by_sentence.setdefault(c.sentence_index, []).append(c)
    return spans, by_sentence, [m.start for m in mentions]


def _sentence_reason(claims: Sequence[Claim], verdicts: Sequence[str]) -> str | None:
    for reason in ERROR_VERDICTS:
        if reason in verdicts:
            return reason
    return SIGN if sign_inconsistent(list(claims)) else None


def _is_heading(line: str) -> bool:
    core = line.strip().strip("*#").strip()
    return len(core) > 1 and core.endswith(":") and ":" not in core[:-1]


def self_edit(text: str, voted: VoteResult, uncertain: UncertainPolicy | str = VOTE_UNCERTAIN) -> SelfEdit:
    """Minimal edit of the student's report `text` by the vote's kept claims (module docstring)."""
    kept = {k.finding: k for k in voted.kept}
    spans, by_sentence, mention_starts = _claims_by_sentence(text)
    removed_idx: dict[int, str] = {}
    stated: set[str] = set()
    kept_claim_sentence = False
    removed: list[dict[str, Any]] = []
    for i, (start, end) in enumerate(spans):
        claims = by_sentence.get(i, [])
        verdicts = [claim_verdict(c, kept, uncertain) for c in claims]
        reason = _sentence_reason(claims, verdicts)
        if reason is None:
            kept_claim_sentence |= bool(claims)
            stated |= {c.finding for c, v in zip(claims, verdicts, strict=True) if v == AGREES}
            continue
        removed_idx[i] = reason
        removed.append({"sentence": clean_sentence(" ".join(text[start:end].split())), "reason": reason,
                        "claims": [{"finding": c.finding, "polarity": c.polarity, "side": c.side, "verdict": v}
                                   for c, v in zip(claims, verdicts, strict=True)]})

    added: list[dict[str, Any]] = []
    unstated: list[str] = []
    for k in voted.kept:
        if k.finding in stated:
            continue
        if not k.sentence:
            unstated.append(k.finding)
            continue
        sentence = render_sentence(k.sentence)
        entry = next((a for a in added if a["sentence"] == sentence), None)
        if entry is None:
            added.append({"sentence": sentence, "findings": [k.finding]})
        else:
            entry["findings"].append(k.finding)

    if not kept_claim_sentence:
        return SelfEdit(voted.text, text, removed, added, unstated, fallback=True)
    if not removed_idx and not added:
        return SelfEdit(text, text, removed, added, unstated)
    edited = _edit_text(text, spans, mention_starts, set(removed_idx), [a["sentence"] for a in added])
    return SelfEdit(edited, text, removed, added, unstated)


# ---- text surgery --------------------------------------------------------------------------------


def _line_starts(text: str) -> list[int]:
    return [0] + [m.end() for m in re.finditer("\n", text)]


def _drop_mask(text: str, spans: list[tuple[int, int]], mention_starts: list[int], removed: set[int]) -> list[bool]:
    """True for every character of a removed sentence's text (module docstring, rule 1)."""
    drop = [False] * len(text)
    for i in sorted(removed):
        start, end = spans[i]
        pieces, pos = [], start
        for line in text[start:end].split("\n"):
            if line.strip():
                pieces.append((pos, pos + len(line)))
            pos += len(line) + 1
        for j, (ps, pe) in enumerate(pieces):
            last = j == len(pieces) - 1
            if not last and _is_heading(text[ps:pe]) and not any(ps <= m < pe for m in mention_starts):
                continue  # a "Heading:" line the splitter glued to the sentence
            cs = _LEAD.match(text, ps, pe).end()   # the line's list marker stays (dropped if all that is left)
            if last:
                while pe < len(text) and text[pe] in " \t":
                    pe += 1
            for p in range(cs, pe):
                drop[p] = True
    return drop


def _conclusion(text: str, spans: list[tuple[int, int]]) -> int | None:
    """Character offset where the first conclusion sentence's text starts (None: no conclusion)."""
    for start, end in spans:
        if _CONCLUSION.match(clean_sentence(text[start:end])):
            return start + len(text[start:end]) - len(text[start:end].lstrip())
    return None


def _edit_text(text: str, spans: list[tuple[int, int]], mention_starts: list[int],
               removed: set[int], added: list[str]) -> str:
    drop = _drop_mask(text, spans, mention_starts, removed)
    starts = _line_starts(text)
    bounds = [(s, (starts[i + 1] - 1) if i + 1 < len(starts) else len(text)) for i, s in enumerate(starts)]
    conclusion = _conclusion(text, spans) if added else None
    inline = None  # the conclusion starts mid-line: insert right before it
    conclusion_line = None
    if conclusion is not None:
        conclusion_line = max(i for i, s in enumerate(starts) if s <= conclusion)
        ls = starts[conclusion_line]
        if _LEAD.match(text, ls, conclusion).end() < conclusion:
            inline = conclusion

    # lines after removal: (original index, text, touched)
    lines: list[tuple[int, str, bool]] = []
    for i, (ls, le) in enumerate(bounds):
        chars = []
        for p in range(ls, le):
            if p == inline:
                chars.append(" ".join(added) + " ")
            if not drop[p]:
                chars.append(text[p])
        new, touched = "".join(chars), any(drop[ls:le])
        if touched:
            new = new.rstrip()
            if _ONLY_DECORATION.fullmatch(new):
                continue
        lines.append((i, new, touched))
    lines = _drop_empty_sections(lines, bounds, text)

    if added and inline is None:
        lines = _insert_added(lines, added, conclusion_line)
    out = _renumber([t for _, t, _ in lines])
    return _tidy_blank_lines(out)


def _drop_empty_sections(lines: list[tuple[int, str, bool]], bounds: list[tuple[int, int]],
                         text: str) -> list[tuple[int, str, bool]]:
    """Drop a heading line whose section (up to a blank line, the next heading or the end) had content
    lines and lost all of them."""
    surviving = {i for i, _, _ in lines}
    gone: set[int] = set()
    for i, new, _ in lines:
        if not _is_heading(new):
            continue
        section = []
        for j in range(i + 1, len(bounds)):
            original = text[bounds[j][0]:bounds[j][1]]
            if not original.strip() or _is_heading(original):
                break
            section.append(j)
        if section and not any(j in surviving for j in section):
            gone.add(i)
    return [line for line in lines if line[0] not in gone]


def _insert_added(lines: list[tuple[int, str, bool]], added: list[str],
                  conclusion_line: int | None) -> list[tuple[int, str, bool]]:
    """Put the added sentences after the last non-blank line before the conclusion line (or the end)."""
    limit = len(lines) if conclusion_line is None else next(
        (n for n, (i, _, _) in enumerate(lines) if i >= conclusion_line), len(lines))
    anchor = next((n for n in range(limit - 1, -1, -1) if lines[n][1].strip()), None)
    if anchor is None:   # nothing before the conclusion: a paragraph of its own before it
        return [*lines[:limit], (-1, " ".join(added), True), *lines[limit:]]
    i, line, _ = lines[anchor]
    numbered, bullet = _NUMBERED.match(line), _BULLET.match(line)
    if numbered:
        indent, number, sep, space = numbered.groups()
        new = [f"{indent}{int(number) + n}{sep}{space}{s}" for n, s in enumerate(added, start=1)]
    elif bullet:
        new = [f"{bullet.group(1)}{bullet.group(2)} {s}" for s in added]
    elif _is_heading(line):
        new = [" ".join(added)]
    elif _one_sentence_lines(lines, anchor):
        new = list(added)
    else:
        return [*lines[:anchor], (i, f"{line.rstrip()} {' '.join(added)}", True), *lines[anchor + 1:]]
    return [*lines[:anchor + 1], *[(-1, s, True) for s in new], *lines[anchor + 1:]]


def _one_sentence_lines(lines: list[tuple[int, str, bool]], anchor: int) -> bool:
    """The anchor line and the line above it each hold one sentence (a one-sentence-per-line report)."""
    def single(line: str) -> bool:
        return len(_SENTENCE_STOP.findall(line)) == 1 and not _is_heading(line)

    return anchor > 0 and single(lines[anchor][1]) and single(lines[anchor - 1][1])


def _renumber(lines: list[str]) -> list[str]:
    """Each run of consecutive numbered lines (same indent and separator) numbered 1, 2, 3, ..."""
    out, run_key, number = [], None, 0
    for line in lines:
        m = _NUMBERED.match(line)
        key = (m.group(1), m.group(3)) if m else None
        if key is None:
            run_key = None
        else:
            number = number + 1 if key == run_key else 1
            run_key = key
            line = f"{m.group(1)}{number}{m.group(3)}{line[m.end(3):]}"
        out.append(line)
    return out


def _tidy_blank_lines(lines: list[str]) -> str:
    """At most one blank line in a row, none at the start or the end."""
    out: list[str] = []
    for line in lines:
        if not line.strip() and (not out or not out[-1].strip()):
            continue
        out.append(line)
    while out and not out[-1].strip():
        out.pop()
    return "\n".join(out)
