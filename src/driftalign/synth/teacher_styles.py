"""Each simulated teacher's recognisable writing style: structure, length, hedging, preambles.

A style only arranges sentences (built in `teacher_phrases`) into lines; it never decides what is
claimed. Hedges and caveats are separate sentences that name no finding, so a rule labeler reads
the claims' polarity unchanged.

| style       | teacher          | shape                                                            |
|-------------|------------------|------------------------------------------------------------------|
| structured  | sim-gpt-5        | bold headings, numbered evidence, pertinent negatives, impression |
| markdown    | sim-gemini-2.5   | `###` headings and `-` bullets                                   |
| careful     | sim-sonnet-4     | prose paragraphs with caveats about projection and priors        |
| plain       | sim-qwen-vl-max  | one prose paragraph                                              |
| terse       | sim-grok-4       | one short line per finding, then "Impression: ..."               |
| stepwise    | sim-glm-4.5v     | "Step k:" reasoning, then "Final answer: ..."                    |
| disclaimer  | sim-moonshot     | "As an AI, I'm not capable of making medical diagnoses..." first |
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from driftalign.synth.teacher_phrases import NO_FINDING_SENTENCE, Sentence
from driftalign.synth.teacher_text import BLANK, Line, heading, paragraph

MOONSHOT_PREAMBLE = "As an AI, I'm not capable of making medical diagnoses"
_MOONSHOT_HINTED = f"{MOONSHOT_PREAMBLE}, but I can describe features in the image that relate to the stated diagnosis."
_MOONSHOT_UNHINTED = f"{MOONSHOT_PREAMBLE}, but I can describe what is visible in the image for each finding."


@dataclass(frozen=True)
class HintedParts:
    """The content of a hinted answer, before layout."""

    evidence: list[Sentence]    # one per given diagnosis (omitted ones missing), drifted or not
    extras: list[Sentence]      # spurious findings the teacher volunteers
    negatives: list[Sentence]   # pertinent negatives
    summary: Sentence           # names every given diagnosis (or "no acute ..." for a normal study)


@dataclass(frozen=True)
class YesNo:
    """One line of an unhinted answer."""

    finding: str
    yes: bool
    sentence: Sentence

    def prefix(self, marker: str = "", bold: bool = False, lower: bool = False) -> str:
        name = f"**{self.finding}**" if bold else self.finding
        answer = "Yes" if self.yes else "No"
        # "(absent)" after the name lets a rule labeler negate the bare name too (backward trigger).
        status = "present" if self.yes else "absent"
        return f"{marker}{name}: {answer.lower() if lower else answer} ({status}) —"


def _lowered(s: Sentence) -> Sentence:
    return Sentence(s.text[:1].lower() + s.text[1:], s.claims, s.events)


def _s(text: str) -> Sentence:
    return Sentence(text)


class Style:
    """Base style: plain prose. Subclasses override the parts that make them recognisable."""

    name = "plain"
    negation_form = 0  # index into teacher_phrases.NEGATION_FORMS
    refusal = ("I'm sorry, but I can't provide a diagnostic interpretation of medical images. "
               "Please consult a qualified radiologist.")

    def summary_text(self, names: str) -> str:
        return f"Therefore, the image findings support the diagnosis of {names}."

    def normal_text(self) -> str:
        """The summary of a study diagnosed with 'no finding'."""
        return NO_FINDING_SENTENCE

    def hinted(self, parts: HintedParts) -> list[Line]:
        intro = _s("Based on the image, the following observations support the diagnosis.")
        return [paragraph(intro, *parts.evidence, *parts.extras, *parts.negatives, parts.summary)]

    def unhinted(self, answers: Sequence[YesNo]) -> list[Line]:
        return [heading("Based on the image:")] + [Line(a.prefix(lower=True), (_lowered(a.sentence),)) for a in answers]


class StructuredStyle(Style):
    name = "structured"

    def summary_text(self, names: str) -> str:
        return f"The image findings support the diagnosis of {names}."

    def hinted(self, parts: HintedParts) -> list[Line]:
        lines: list[Line] = []
        findings = parts.evidence + parts.extras
        if findings:
            lines += [heading("**Image findings supporting the diagnosis:**")]
            lines += [Line(f"{i}. ", (s,)) for i, s in enumerate(findings, start=1)] + [BLANK]
        if parts.negatives:
            lines += [heading("**Pertinent negatives:**")] + [Line("- ", (s,)) for s in parts.negatives] + [BLANK]
        closing = _s("Correlation with the clinical history and prior imaging is recommended.")
        return lines + [heading("**Impression:**"), paragraph(parts.summary, closing)]

    def unhinted(self, answers: Sequence[YesNo]) -> list[Line]:
        lines = [heading("**Finding-by-finding assessment:**")]
        return lines + [Line(a.prefix(f"{i}. ", bold=True), (_lowered(a.sentence),)) for i, a in enumerate(answers, 1)]


class MarkdownStyle(Style):
    name = "markdown"
    negation_form = 1

    def summary_text(self, names: str) -> str:
        return f"These findings support the diagnosis of {names}."

    def hinted(self, parts: HintedParts) -> list[Line]:
        bullets = [Line("- ", (s,)) for s in parts.evidence + parts.extras + parts.negatives]
        return [heading("### Image analysis:"), *bullets, BLANK, heading("### Conclusion:"), paragraph(parts.summary)]

    def unhinted(self, answers: Sequence[YesNo]) -> list[Line]:
        return [heading("### Assessment:")] + [Line(a.prefix("- ", bold=True), (_lowered(a.sentence),)) for a in answers]


class CarefulStyle(Style):
    name = "careful"
    negation_form = 2
    refusal = ("I'm not able to provide a diagnostic interpretation of this radiograph. A qualified radiologist "
               "should review the image in its full clinical context.")
    caveats = ("I should note that a single frontal projection limits this assessment.",
               "Comparison with prior imaging would help confirm these impressions.")

    def summary_text(self, names: str) -> str:
        return f"Overall, the appearance is consistent with {names}."

    def hinted(self, parts: HintedParts) -> list[Line]:
        intro = _s("Looking at this frontal chest radiograph, I can identify features that support the stated diagnosis.")
        lines = [paragraph(intro, *parts.evidence, *parts.extras), BLANK]
        if parts.negatives:
            lines += [paragraph(*parts.negatives, _s(self.caveats[0])), BLANK]
        else:
            lines += [paragraph(_s(self.caveats[0])), BLANK]
        return lines + [paragraph(parts.summary, _s(self.caveats[1]))]

    def unhinted(self, answers: Sequence[YesNo]) -> list[Line]:
        intro = _s("Looking at this frontal chest radiograph, here is my assessment of each finding.")
        rows = [Line(a.prefix(), (_lowered(a.sentence),)) for a in answers]
        return [paragraph(intro), *rows, BLANK, paragraph(_s(self.caveats[0]))]


class TerseStyle(Style):
    name = "terse"

    def summary_text(self, names: str) -> str:
        return f"Impression: {names}."

    def normal_text(self) -> str:
        return "Impression: no acute cardiopulmonary abnormality."

    def hinted(self, parts: HintedParts) -> list[Line]:
        return [paragraph(s) for s in parts.evidence + parts.extras] + [paragraph(parts.summary)]

    def unhinted(self, answers: Sequence[YesNo]) -> list[Line]:
        return [Line(a.prefix(), (_lowered(a.sentence),)) for a in answers]


class StepwiseStyle(Style):
    name = "stepwise"
    negation_form = 1

    def summary_text(self, names: str) -> str:
        return f"Final answer: the image supports the diagnosis of {names}."

    def normal_text(self) -> str:
        return "Final answer: no acute cardiopulmonary abnormality is identified."

    def hinted(self, parts: HintedParts) -> list[Line]:
        steps = parts.evidence + parts.extras + parts.negatives
        lines = [paragraph(_s("Let me analyze the image step by step."))]
        lines += [Line(f"Step {i}: ", (s,)) for i, s in enumerate(steps, start=1)]
        return lines + [paragraph(parts.summary)]

    def unhinted(self, answers: Sequence[YesNo]) -> list[Line]:
        rows = [Line(a.prefix(f"({i}) "), (_lowered(a.sentence),)) for i, a in enumerate(answers, start=1)]
        return [paragraph(_s("Let me analyze the image step by step.")), *rows]


class DisclaimerStyle(Style):
    name = "disclaimer"
    refusal = ("As an AI, I'm not capable of making medical diagnoses or interpreting medical images. "
               "Please consult a qualified radiologist or physician for an accurate assessment.")
    closing = "Please consult a qualified radiologist for a definitive interpretation."

    def summary_text(self, names: str) -> str:
        return f"These features are consistent with {names}."

    def hinted(self, parts: HintedParts) -> list[Line]:
        body = [*parts.evidence, *parts.extras, *parts.negatives]
        lines = [paragraph(_s(_MOONSHOT_HINTED)), BLANK]
        if body:
            lines += [paragraph(*body), BLANK]
        return lines + [paragraph(parts.summary, _s(self.closing))]

    def unhinted(self, answers: Sequence[YesNo]) -> list[Line]:
        rows = [Line(a.prefix(), (_lowered(a.sentence),)) for a in answers]
        return [paragraph(_s(_MOONSHOT_UNHINTED)), BLANK, *rows, BLANK, paragraph(_s(self.closing))]


STYLES: dict[str, Style] = {
    s.name: s for s in (Style(), StructuredStyle(), MarkdownStyle(), CarefulStyle(), TerseStyle(),
                        StepwiseStyle(), DisclaimerStyle())
}
