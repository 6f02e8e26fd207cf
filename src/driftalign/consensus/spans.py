"""Which parts of a teacher's trajectory drift from the consensus t+: sentence spans for span-level APO.

APO (eq. 9-11) pushes down a negative's *whole* trajectory, correct sentences included; when t+
and its negatives share most of their content, that also pushes down what t+ says. The opt-in
`driftalign apo --negative-tokens drifting` lets only a negative's drifting sentences enter its
log-probability. A sentence drifts from t+ when one of its claims (labeler mentions):

* contradicts t+: t+ states the finding with another polarity ("no effusion" against t+'s effusion);
* is unsupported: asserts (present or uncertain) a finding t+ does not state;
* puts a finding t+ asserts on another side or in another lung zone (drift/errors.py's detectors
  with t+ as the reference);
* describes an opacity as dark or a pneumothorax as white (sign inconsistency).

Label-free: t+ is the reference, as everywhere in APO. Sentences come from the labeler's sentence
splitter, so spans line up with what the labeler read.
"""

from __future__ import annotations

from driftalign.drift.errors import Reference, positive_places, text_errors
from driftalign.labeling.claims import claims_from_mentions, stance


def consensus_reference(consensus_text: str) -> Reference:
    """t+ as a `drift.errors.Reference`: its positive findings, their sides and zones."""
    from driftalign.drift.answers import FINDINGS
    from driftalign.labeling import extract_mentions

    mentions = extract_mentions(consensus_text)
    polarity = stance(claims_from_mentions(mentions))
    sides, zones = positive_places(mentions)
    return Reference(
        positive=frozenset(f for f, p in polarity.items() if p == 1),
        negative_or_unmentioned=frozenset(f for f in FINDINGS if polarity.get(f, 0) == 0),
        sides={f: frozenset(s) for f, s in sides.items()},
        lobes={f: frozenset(s) for f, s in zones.items()},
    )


def drifting_sentences(text: str, consensus_text: str) -> list[str]:
    """The sentences of `text` that drift from t+ (module docstring), in text order, each once."""
    from driftalign.labeling import extract_mentions

    polarity = stance(claims_from_mentions(extract_mentions(consensus_text)))
    mentions = extract_mentions(text)
    flagged: dict[int, str] = {}
    for claim in claims_from_mentions(mentions):
        if claim.finding == "No Finding":
            continue
        wanted = polarity.get(claim.finding)
        if (wanted is not None and wanted != claim.polarity) or (wanted is None and claim.polarity != 0):
            flagged.setdefault(claim.sentence_index, claim.sentence)
    errors = text_errors(text, consensus_reference(consensus_text))
    by_sentence = {m.sentence.strip(): m.sentence_index for m in mentions}
    for kind in ("wrong_side", "overgeneralisation", "wrong_location", "sign"):
        for sentence in errors.sentences[kind]:
            flagged.setdefault(by_sentence.get(sentence, -1), sentence)
    return [flagged[i] for i in sorted(flagged)]


def drifting_spans(text: str, consensus_text: str) -> list[tuple[int, int]]:
    """Character spans [start, end) in `text` of its drifting sentences (empty: nothing drifts)."""
    spans, cursor = [], 0
    for sentence in drifting_sentences(text, consensus_text):
        start = text.find(sentence.strip(), cursor)
        if start < 0:
            start = text.find(sentence.strip())
        if start >= 0:
            end = start + len(sentence.strip())
            spans.append((start, end))
            cursor = end
    return sorted(spans)
