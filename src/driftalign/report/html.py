"""Render a `RunContents` (+ examples, + figures) as ONE self-contained HTML page.

The page is data (sections.py: typed tables, notes; this module: figures, examples, the headline)
drawn by one autoescaped Jinja2 template, resources/report/report.html.j2, which holds the page,
the table markup and the CSS: every value reaches the page as text, escaped by the template.

Self-contained: the CSS is inline, every figure is an inline base64 PNG, there is no script, no
font, no stylesheet and no image fetched from anywhere. Tables follow the paper's layouts
(teachers: Table 2; students: Table 5) in booktabs style (rules above and below, a rule under the
header, no vertical lines), best value of a column in bold. When the run is synthetic a banner says
so and every table and figure caption starts with a SYNTHETIC tag; a run on a user's own dataset
carries neither.
"""

from __future__ import annotations

import base64
import datetime as _dt
import functools
from dataclasses import dataclass
from importlib import resources
from typing import ClassVar

import jinja2

from driftalign import __version__
from driftalign.drift.errors import ERROR_KINDS, ERROR_LABELS
from driftalign.report import sections as S
from driftalign.report.examples import Annotated, Example
from driftalign.report.records import RunContents
from driftalign.report.tables import Caption, Cell, caption, ci_cell, code, note

TEMPLATE = "report.html.j2"                 # in driftalign/resources/report/ (package data)
FIGURE_SCALE = 0.62
PLOT_CAPTIONS = {
    "drift_per_teacher": "Teacher drift against the reference: precision, recall and semantic similarity of each "
                         "teacher's trajectories (the APO paper's Fig. 1a).",
    "drift_finding_accuracy": "Per-finding accuracy of each teacher on the five MS-CXR-T findings.",
    "drift_kappa": "Agreement between teachers: pairwise Cohen's κ and per-finding Fleiss' κ.",
    "drift_steps": "Step-wise drift along the reasoning: how far the teachers' k-th steps are apart "
                   "(embedding distance, JS divergence of the findings they assert).",
}
CURVES_CAPTION = "Loss per logged step of each training stage (OUT/trainer_log.jsonl); GRPO: mean reward, dashed."
APO_CAPTION = (
    "One row per APO stage, from its OUT/trainer_log.jsonl; a panel or line the stage did not log is left out. "
    "(a) Absolute log-probability per token of t+ (green) and of the negatives (red) under the policy (solid) and "
    "the SPD reference (dashed): both falling below the reference while the rewards rise is likelihood displacement. "
    "(b) Mean words per greedy report on a fixed subset of studies (--eval-every): falling means reports shrink "
    "towards t+'s style. "
    "(c) Invented findings and all drift errors per 100 of those reports: the drift APO should lower. "
    "(d) Balanced top-1 accuracy on those reports, averaged over the MS-CXR-T findings defined on the subset.")


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


# ---- figures -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    src: str                   # a data: URI
    width: int | None          # shown at FIGURE_SCALE of its pixel width; None: its own size
    alt: str
    caption: Caption


@dataclass(frozen=True)
class Figures:
    figures: tuple[Figure, ...]
    kind: ClassVar[str] = "figures"


def figure(png: bytes, alt: str, cap: Caption) -> Figure:
    """An inline PNG shown at FIGURE_SCALE of its pixel width (the PNGs are drawn at 110-170 dpi)."""
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(png)) as im:
            width: int | None = round(im.width * FIGURE_SCALE)
    except Exception:  # noqa: BLE001 — an odd PNG is still shown, at its own size
        width = None
    return Figure(data_uri(png), width, alt, cap)


def section_figures(page: S.Page, curves: bytes | None, apo: bytes | None = None) -> None:
    c = page.c
    figs = []
    for p in c.drift.plots if c.drift is not None else ():
        try:
            png = p.read_bytes()
        except OSError:
            continue
        figs.append(figure(png, p.stem, caption(p.name + ".", PLOT_CAPTIONS.get(p.stem, p.name))))
    if curves is not None:
        figs.append(figure(curves, "training curves", caption("Training curves.", CURVES_CAPTION)))
    if apo is not None:
        figs.append(figure(apo, "what APO learns while it trains", caption("What APO learns while it trains.",
                                                                           APO_CAPTION)))
    if not figs:
        page.add("figures", "Figures", note("No drift plots (", code("driftalign drift --plots"),
                                            ") and no training log in this directory."))
        return
    page.add("figures", "Figures", Figures(tuple(figs)))


# ---- examples (Fig. 1b) ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """A piece of a shown text: plain, or a flagged sentence with its error kinds."""

    text: str
    kinds: tuple[str, ...] = ()

    @property
    def labels(self) -> str:
        return ", ".join(ERROR_LABELS[k] for k in self.kinds)


@dataclass(frozen=True)
class Card:
    """One text of an example: who wrote it, its drift errors (a badge) and the text, flagged sentences marked."""

    who: str
    role: str                  # teacher | consensus | student
    detail: str
    ok: bool                   # no drift error
    badge: str
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class ExampleView:
    index: int
    study_id: str
    split: str
    positives: str
    report: str
    image: str | None          # a data: URI
    teachers: tuple[Card, ...]
    others: tuple[Card, ...]   # the consensus t+, then the students


@dataclass(frozen=True)
class Examples:
    items: tuple[ExampleView, ...]
    notes: tuple[str, ...]
    kind: ClassVar[str] = "examples"


def segments(a: Annotated) -> tuple[Segment, ...]:
    out, pos = [], 0
    for h in a.spans:
        out += [Segment(a.text[pos:h.start]), Segment(a.text[h.start:h.end], h.kinds)]
        pos = h.end
    out.append(Segment(a.text[pos:]))
    return tuple(s for s in out if s.text)


def card(a: Annotated) -> Card:
    total = a.errors.total
    parts = [f"{ERROR_LABELS[k]} ×{n}" if n > 1 else ERROR_LABELS[k] for k, n in a.errors.counts.items() if n]
    badge = "no drift error" if total == 0 else f"{total} drift error{'s' if total > 1 else ''}: {', '.join(parts)}"
    return Card(a.who, a.role, a.detail, total == 0, badge, segments(a))


def example_view(i: int, ex: Example) -> ExampleView:
    st = ex.study
    others = ([ex.consensus] if ex.consensus else []) + list(ex.students)
    return ExampleView(i, st.study_id, st.split, ", ".join(st.positive_findings()) or "No Finding", st.report,
                       ex.image_data_uri, tuple(map(card, ex.teachers)), tuple(map(card, others)))


def section_examples(page: S.Page, examples: list[Example], notes: list[str]) -> None:
    if not examples:
        page.add("examples", "Examples", note("No examples: " + "; ".join(notes) if notes else
                                              "No examples: no dataset directory with trajectories found."))
        return
    page.add("examples", "Examples (Fig. 1b)",
             Examples(tuple(example_view(i + 1, ex) for i, ex in enumerate(examples)), tuple(notes)))


# ---- headline -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerdictLine:
    """Did a method beat its baseline on this run (the run summary's verdicts)."""

    run: str
    baseline: str
    verdict: str               # yes | no
    accuracy: Cell
    drift: Cell
    kind: ClassVar[str] = "verdict"


@dataclass(frozen=True)
class PooledLine:
    """A comparison of a multi-seed run, pooled over its seeds: the success criterion's run, else the first."""

    name: str
    accuracy: Cell
    clinical_f1: Cell
    drift: Cell
    kind: ClassVar[str] = "pooled"


@dataclass(frozen=True)
class CriterionLine:
    """The pipeline file's pre-registered success criterion, as the run checked it."""

    scope: str
    verdict: str               # met | not met | not judged
    line: str
    kind: ClassVar[str] = "criterion"


def headline(c: RunContents) -> list[VerdictLine | PooledLine | CriterionLine]:
    lines: list[VerdictLine | PooledLine | CriterionLine] = [
        VerdictLine(v.run, v.baseline, "yes" if v.beat else "no", ci_cell(v.avg_accuracy),
                    ci_cell(v.drift_errors_per_100, 1)) for v in c.verdicts]
    if c.experiment is not None and c.experiment.comparisons:
        judged = [p for p in c.experiment.comparisons                   # the criterion's run, when there is one
                  if c.success is not None and (p.run, p.baseline) == (c.success.run, c.success.baseline)]
        p = (judged or list(c.experiment.comparisons))[0]
        lines.append(PooledLine(p.name, ci_cell(p.avg_accuracy), ci_cell(p.clinical_f1),
                                ci_cell(p.drift_errors_per_100, 1)))
    if c.success is not None:
        verdict = "not judged" if c.success.met is None else "met" if c.success.met else "not met"
        lines.append(CriterionLine(c.success.scope, verdict, c.success.line))
    return lines


# ---- assembly -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageView:
    title: str
    synthetic: bool
    synthetic_source: str
    run: str
    dataset: str | None
    generated: str
    version: str
    headline: tuple[VerdictLine | PooledLine | CriterionLine, ...]
    sections: tuple[S.Section, ...]


@functools.lru_cache(maxsize=1)
def template() -> jinja2.Template:
    """The page template (autoescaped: every value is text; strict: a misspelt field is an error)."""
    source = (resources.files("driftalign") / "resources" / "report" / TEMPLATE).read_text(encoding="utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True)
    return env.from_string(source)


def build_sections(c: RunContents, examples: list[Example], example_notes: list[str], curves: bytes | None,
                   apo: bytes | None) -> list[S.Section]:
    page = S.Page(c)
    S.section_students(page)
    S.section_teachers(page)
    S.section_drift_errors(page)
    S.section_comparisons(page)
    S.section_consensus(page)
    S.section_deer(page)
    section_figures(page, curves, apo)
    section_examples(page, examples, example_notes)
    S.section_benchmarks(page)
    S.section_run(page)          # last: lists what the sections above found missing
    return page.sections


def render(c: RunContents, examples: list[Example], example_notes: list[str], curves: bytes | None,
           generated: _dt.datetime | None = None, *, apo: bytes | None = None) -> str:
    """The whole page as one string."""
    when = (generated or _dt.datetime.now(_dt.timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")
    run = c.run_dir.resolve()
    view = PageView(title=f"driftalign report — {run.name}" + (" (SYNTHETIC)" if c.synthetic else ""),
                    synthetic=c.synthetic, synthetic_source=c.synthetic_source, run=str(run),
                    dataset=str(c.dataset) if c.dataset else None, generated=when, version=__version__,
                    headline=tuple(headline(c)),
                    sections=tuple(build_sections(c, examples, example_notes, curves, apo)))
    legend = [(k, ERROR_LABELS[k]) for k in ERROR_KINDS]
    return template().render(page=view, legend=legend)
