"""The "self-select" consensus: t+ = the best of K sampled reports of the SPD student, scored claim by claim.

Not in the paper. Follows RLAIF-V (Yu et al., CVPR 2025: candidates sampled from the policy with the
same decoding, so they share its style, ranked by claim-level feedback) and FactTune (Tian et al.,
ICLR 2024: preference pairs from the model's own samples ranked by factuality). Label-free: the
judge is the teachers' majority vote (`consensus.vote`), never the study labels.

Score of one sample against the vote's kept claims, per finding the sample mentions, with the claim
verdicts of `consensus.self_edit.claim_verdict` (hedges mapped by the vote's `uncertain` policy):

* error    — a finding with a contradicted, wrong_side or unsupported claim (counted once per finding);
* correct  — a kept finding with an agreeing claim and no error;
* omitted  — a kept finding that is not correct (never mentioned, or mentioned wrongly);
* neutral  — pertinent negatives the majority does not mention: neither right nor wrong.

    F1 = 2·correct / (2·correct + errors + omitted)
       = the F1 of precision correct/(correct + errors) and recall correct/|kept|;
    F1 = 1 when correct = errors = omitted = 0 (no majority claim, and the sample asserts nothing wrong).

Ranking (best first): higher F1, then fewer errors, then a non-empty sample before an empty one,
then the earlier sample (index). t+ = the first; the worst (the last in that order) is offered as an
extra negative only when it scores strictly worse than the best (lower F1 or more errors).

When even the best sample has F1 0 (no sample states a single majority claim right, or, with no
majority claim, every sample asserts something wrong), `fallback` is set and the stage uses the
vote's text as t+ instead, as self-edit does when nothing of the student's report survives: pushing
up a sample that is all wrong, above teachers that are mostly right, would teach the drift.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from driftalign.consensus.self_edit import AGREES, ERROR_VERDICTS, claim_verdict
from driftalign.consensus.vote import VOTE_UNCERTAIN, VoteResult
from driftalign.labeling.claims import Claim
from driftalign.labeling.uncertain import UncertainPolicy


@dataclass(frozen=True)
class SampleScore:
    """One sample's claim-level agreement with the vote (module docstring)."""

    index: int
    f1: float
    correct: int
    errors: int
    omitted: int
    claims: int          # claims (mentions) the sample states
    empty: bool

    def rank_key(self) -> tuple[float, int, bool, int]:
        return (-self.f1, self.errors, self.empty, self.index)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SelfSelection:
    best: int                   # index of t+
    worst: int | None           # index of the extra negative, None when no sample is worse than the best
    scores: list[SampleScore]   # in sample order
    fallback: bool = False      # the best sample has F1 0: t+ is the vote's text (module docstring)


def score_sample(claims: Sequence[Claim], voted: VoteResult, index: int = 0, empty: bool = False,
                 uncertain: UncertainPolicy | str = VOTE_UNCERTAIN) -> SampleScore:
    """Claim-level agreement of one sample (its `extract_claims`) with the vote's kept claims."""
    kept = {k.finding: k for k in voted.kept}
    verdicts: dict[str, set[str]] = {}
    for c in claims:
        verdicts.setdefault(c.finding, set()).add(claim_verdict(c, kept, uncertain))
    errors = sum(1 for v in verdicts.values() if v & set(ERROR_VERDICTS))
    correct = sum(1 for f, v in verdicts.items() if f in kept and AGREES in v and not v & set(ERROR_VERDICTS))
    omitted = len(kept) - correct
    denominator = 2 * correct + errors + omitted
    f1 = 1.0 if denominator == 0 else 2 * correct / denominator
    return SampleScore(index, f1, correct, errors, omitted, len(claims), empty)


def self_select(samples: Sequence[Sequence[Claim]], voted: VoteResult, texts: Sequence[str] | None = None,
                uncertain: UncertainPolicy | str = VOTE_UNCERTAIN) -> SelfSelection:
    """Rank K samples (each given by its claims; `texts` only tell which are empty) — module docstring."""
    if not samples:
        raise ValueError("self_select needs at least one sample")
    empty = [not t.strip() for t in texts] if texts is not None else [False] * len(samples)
    scores = [score_sample(c, voted, i, empty[i], uncertain) for i, c in enumerate(samples)]
    ranked = sorted(scores, key=SampleScore.rank_key)
    best, worst = ranked[0], ranked[-1]
    worse = (worst.f1, -worst.errors) < (best.f1, -best.errors)
    return SelfSelection(best.index, worst.index if worse else None, scores, fallback=best.f1 == 0.0)
