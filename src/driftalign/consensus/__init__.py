"""Consensus trajectory synthesis (SPEC §3 eq. 7 and the claim-level vote) and APO teacher weights."""

from driftalign.consensus.claims import agreement_record, drift_from
from driftalign.consensus.vote import KeptClaim, VoteResult, vote
from driftalign.consensus.weights import WeightScheme, teacher_weights

__all__ = ["KeptClaim", "VoteResult", "WeightScheme", "agreement_record", "drift_from", "teacher_weights", "vote"]
