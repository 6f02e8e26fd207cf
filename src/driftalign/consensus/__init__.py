"""Consensus trajectory synthesis (SPEC §3 eq. 7 and the claim-level vote) and APO teacher weights."""

from driftalign.consensus.claims import Claim, agreement_record, drift_from, stance
from driftalign.consensus.vote import KeptClaim, VoteResult, vote
from driftalign.consensus.weights import WeightScheme, teacher_weights

__all__ = ["Claim", "KeptClaim", "VoteResult", "WeightScheme", "agreement_record", "drift_from", "stance",
           "teacher_weights", "vote"]
