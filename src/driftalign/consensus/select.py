"""The "select" consensus: t+ is one teacher's whole trajectory — the one the vote finds least wrong.

Not in the paper. The vote (`consensus.vote`) decides which claims are right but writes t+ by
stitching sentences of several teachers, a style no teacher (and not the SPD model) writes.
`select` keeps a real trajectory instead: among the non-refusing teachers, the one with

    1. the fewest errors against the vote's kept claims (`claims.errors_against`: contradictions
       and findings asserted that the vote does not keep),
    2. then the fewest of the vote's claims omitted,
    3. then the name (deterministic).

Label-free, like the vote; its content is only as good as the least-wrong teacher of each study.
"""

from __future__ import annotations

from driftalign.consensus.claims import errors_against
from driftalign.consensus.vote import VoteResult
from driftalign.labeling.claims import Claim, stance


def select(claims: dict[str, list[Claim]], voted: VoteResult) -> str:
    """Name of the teacher whose trajectory becomes t+ (module docstring). `claims` must be non-empty."""
    consensus = {k.finding: k.polarity for k in voted.kept}

    def rank(teacher: str) -> tuple[int, int, str]:
        s = stance(claims[teacher])
        return (errors_against(s, consensus), sum(1 for f in consensus if f not in s), teacher)

    return min(claims, key=rank)
