"""Hybrid consensus: the model's t+ checked against the vote claim by claim, the vote wins conflicts.

Rules (not in the paper; a guard against a weak or hallucinating consensus model):
1. a sentence of the model's text is kept when it states at least one claim and every claim in it
   agrees with the vote (same finding and polarity, compatible side); sentences with no claim or
   with a contradicted / unsupported claim are dropped;
2. every vote claim not stated by a kept model sentence is added with the vote's sentence;
3. t+ = kept model sentences (model order), then the vote's fallback sentences (vote order), deduped.
"""

from __future__ import annotations

from dataclasses import dataclass

from driftalign.consensus.claims import join_sentences
from driftalign.consensus.vote import KeptClaim, VoteResult
from driftalign.labeling.claims import Claim


@dataclass
class HybridResult:
    text: str
    sources: dict[str, str]        # finding -> "model" | "vote"
    conflicts: int                 # model claims contradicting the vote (other polarity or side)
    unsupported: int               # model claims on findings the vote did not keep


def _agrees(c: Claim, kept: dict[str, KeptClaim]) -> bool:
    k = kept.get(c.finding)
    return k is not None and k.polarity == c.polarity and (k.side is None or c.side in (None, k.side))


def hybrid(model_claims: list[Claim], voted: VoteResult) -> HybridResult:
    """Merge the model's claims (from `extract_claims(model_text)`) with the vote (module docstring)."""
    kept = {k.finding: k for k in voted.kept}
    by_sentence: dict[int, list[Claim]] = {}
    for c in model_claims:
        by_sentence.setdefault(c.sentence_index, []).append(c)
    sentences: list[str] = []
    sources: dict[str, str] = {}
    for idx in sorted(by_sentence):
        claims = by_sentence[idx]
        if all(_agrees(c, kept) for c in claims):
            sentences.append(claims[0].sentence)
            sources.update({c.finding: "model" for c in claims})
    for k in voted.kept:
        if k.finding not in sources:
            sources[k.finding] = "vote"
            if k.sentence not in sentences:
                sentences.append(k.sentence)
    conflicts = sum(1 for c in model_claims if c.finding in kept and not _agrees(c, kept))
    unsupported = sum(1 for c in model_claims if c.finding not in kept)
    return HybridResult(join_sentences(sentences), sources, conflicts, unsupported)
