"""Label-free, claim-level majority vote over the teachers' trajectories ("vote" consensus).

Not in the paper (which only has the model consensus, eq. 7); SPEC §3 lists it as a second strategy.

Given the claims of the n non-refusing teachers of one study:
1. a (finding, polarity) pair is kept when a strict majority of the n teachers asserts it
   (each teacher's stance has one polarity per finding, see `claims.stance`);
2. the kept claim's side is the most common side among its supporters that give one
   (ties: the side named by the alphabetically first teacher; none given: no side);
3. each kept claim is stated by one supporting sentence: the candidate sentences are the
   supporters' sentences that assert it and state nothing outside the kept set (every claim in
   them is a kept (finding, polarity), and the sentence is not sign-inconsistent — an opacity
   called dark or lucent, `claims.sign_inconsistent`; a claim without such a sentence stays
   unstated in t+ — better to omit a majority claim than to assert a wrong one); the chosen one is the most
   specific (fewest claims: a descriptive sentence per finding, not an impression list), then
   one that names the majority side, then the teacher with the highest overall agreement, then the
   shortest, then teacher name (fully deterministic);
4. a sentence already chosen for an earlier claim and stating this one too covers it (dedupe);
5. t+ lists the sentences in a stable order: positive claims, then uncertain, then negative, each
   in CheXpert order of the 14 observations.

Uncertain claims (`uncertain`, `labeling.uncertain.UncertainPolicy`): OWN (this function's default,
unchanged since the vote landed; the pre-registered APO experiment uses it) votes "possible X" as
a polarity of its own; POSITIVE counts it as a vote for X present, NEGATIVE as a vote for X not
present. Only a sentence that states a kept claim with that very polarity states it in t+, so
under POSITIVE/NEGATIVE a hedged sentence is never copied as the statement of a present/absent claim.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from driftalign.consensus.claims import agreement_record, join_sentences
from driftalign.constants import OBSERVATIONS
from driftalign.labeling.claims import Claim, sign_inconsistent, stance
from driftalign.labeling.uncertain import UncertainPolicy, label_class

# The vote's default: hedges are their own polarity (its behaviour before the setting existed).
VOTE_UNCERTAIN = UncertainPolicy.OWN

_POLARITY_ORDER = {1: 0, -1: 1, 0: 2}


@dataclass(frozen=True)
class KeptClaim:
    """A claim the majority of teachers asserts, with who supports it and the sentence chosen for it."""

    finding: str
    polarity: int
    side: str | None
    supporters: tuple[str, ...]
    teacher: str = ""        # whose sentence states it in t+
    sentence: str = ""

    def to_dict(self) -> dict:
        return {"finding": self.finding, "polarity": self.polarity, "side": self.side,
                "supporters": list(self.supporters), "teacher": self.teacher, "sentence": self.sentence}


@dataclass
class VoteResult:
    """The vote's t+ and its bookkeeping for one study."""

    text: str
    kept: list[KeptClaim]
    n_teachers: int
    agreement: dict[str, dict] = field(default_factory=dict)   # teacher -> agreement_record

    @property
    def stance(self) -> dict[str, int]:
        return {k.finding: k.polarity for k in self.kept}


def _claim_order(finding: str, polarity: int) -> tuple[int, int]:
    return (_POLARITY_ORDER[polarity], OBSERVATIONS.index(finding) if finding in OBSERVATIONS else len(OBSERVATIONS))


def majority_stance(stances: dict[str, dict[str, int]]) -> dict[str, tuple[int, tuple[str, ...]]]:
    """finding -> (polarity, supporters) for every (finding, polarity) asserted by > n/2 teachers."""
    n = len(stances)
    votes: dict[tuple[str, int], list[str]] = {}
    for teacher in sorted(stances):
        for finding, polarity in stances[teacher].items():
            votes.setdefault((finding, polarity), []).append(teacher)
    kept = {f: (p, tuple(ts)) for (f, p), ts in votes.items() if 2 * len(ts) > n}
    return dict(sorted(kept.items(), key=lambda kv: _claim_order(kv[0], kv[1][0])))


def majority_side(finding: str, polarity: int, supporters: tuple[str, ...],
                  claims: dict[str, list[Claim]]) -> str | None:
    """Most common side among the supporters that lateralise the claim (first teacher wins ties)."""
    sides = []
    for teacher in supporters:
        side = next((c.side for c in claims[teacher] if c.key == (finding, polarity) and c.side), None)
        if side:
            sides.append(side)
    return Counter(sides).most_common(1)[0][0] if sides else None


def _agrees(claim: Claim, kept: dict[str, KeptClaim]) -> bool:
    """Same finding and polarity as a kept claim (sides only rank candidates: a finding may have several)."""
    k = kept.get(claim.finding)
    return k is not None and k.polarity == claim.polarity


def _pick_sentence(k: KeptClaim, claims: dict[str, list[Claim]], kept: dict[str, KeptClaim],
                   teacher_agreement: dict[str, float]) -> tuple[str, str]:
    """(teacher, sentence) of the most consistent supporting sentence for one kept claim."""
    best_key, best = None, ("", "")
    for teacher in k.supporters:
        by_sentence: dict[int, list[Claim]] = {}
        for c in claims[teacher]:
            by_sentence.setdefault(c.sentence_index, []).append(c)
        for sentence_claims in by_sentence.values():
            if not any(c.key == (k.finding, k.polarity) for c in sentence_claims):
                continue
            agree = sum(_agrees(c, kept) for c in sentence_claims)
            if agree < len(sentence_claims):
                continue  # would bring a non-majority claim into t+
            if sign_inconsistent(sentence_claims):
                continue  # e.g. "an abnormally dark area ... pneumonia": drift, not evidence
            sentence = sentence_claims[0].sentence
            side_ok = k.side is None or any(c.key == (k.finding, k.polarity) and c.side == k.side
                                            for c in sentence_claims)
            key = (-len(sentence_claims), side_ok,
                   teacher_agreement.get(teacher, 0.0), -len(sentence), [-ord(ch) for ch in teacher])
            if best_key is None or key > best_key:
                best_key, best = key, (teacher, sentence)
    return best


def _apply_policy(teacher_stance: dict[str, int], uncertain: UncertainPolicy | str) -> dict[str, int]:
    """A stance with its -1 polarities mapped by the uncertain policy (1, 0, or kept as -1)."""
    return {f: (p if p != -1 else label_class(-1, uncertain)) for f, p in teacher_stance.items()}


def vote(claims: dict[str, list[Claim]], uncertain: UncertainPolicy | str = VOTE_UNCERTAIN) -> VoteResult | None:
    """Claim-level majority vote over the non-refusing teachers' claims (module docstring).

    `claims` maps teacher -> its claims (refusals already removed). Returns None when there is no
    teacher to vote; `text` is "" when no claim reaches a majority.
    """
    if not claims:
        return None
    stances = {t: _apply_policy(stance(cs), uncertain) for t, cs in claims.items()}
    majority = majority_stance(stances)
    kept = {f: KeptClaim(f, p, majority_side(f, p, ts, claims), ts) for f, (p, ts) in majority.items()}
    consensus_stance = {f: k.polarity for f, k in kept.items()}
    agreement = {t: agreement_record(s, consensus_stance) for t, s in sorted(stances.items())}
    teacher_agreement = {t: rec["agreement"] for t, rec in agreement.items()}

    sentences: list[str] = []
    covered: dict[str, tuple[str, str]] = {}   # finding -> (teacher, sentence) stating it in t+
    final: list[KeptClaim] = []
    for f, k in kept.items():
        if f not in covered:
            teacher, sentence = _pick_sentence(k, claims, kept, teacher_agreement)
            if not sentence:  # every supporting sentence also states a non-majority claim
                final.append(k)
                continue
            sentences.append(sentence)
            for c in claims[teacher]:
                if c.sentence == sentence and _agrees(c, kept):
                    covered.setdefault(c.finding, (teacher, sentence))
            covered.setdefault(f, (teacher, sentence))
        teacher, sentence = covered[f]
        final.append(KeptClaim(k.finding, k.polarity, k.side, k.supporters, teacher, sentence))
    return VoteResult(text=join_sentences(sentences), kept=final, n_teachers=len(claims), agreement=agreement)
