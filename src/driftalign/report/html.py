"""Render a `RunContents` (+ examples, + figures) as ONE self-contained HTML page.

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
import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from driftalign import __version__
from driftalign.constants import MSCXRT_FINDINGS
from driftalign.drift.errors import ERROR_KINDS, ERROR_LABELS
from driftalign.report.collect import RunContents, StudentEval, summary_verdicts
from driftalign.report.examples import Annotated, Example

FINDING_SHORT = list(MSCXRT_FINDINGS.values())           # Con., PE, Pna., Pnx., Ede.
KIND_SHORT = {"invented": "invented", "wrong_side": "wrong side", "overgeneralisation": "over-gen.",
              "wrong_location": "wrong loc.", "sign": "sign"}
PLOT_CAPTIONS = {
    "drift_per_teacher": "Teacher drift against the reference: precision, recall and semantic similarity of each "
                         "teacher's trajectories (the APO paper's Fig. 1a).",
    "drift_finding_accuracy": "Per-finding accuracy of each teacher on the five MS-CXR-T findings.",
    "drift_kappa": "Agreement between teachers: pairwise Cohen's κ and per-finding Fleiss' κ.",
    "drift_steps": "Step-wise drift along the reasoning: how far the teachers' k-th steps are apart "
                   "(embedding distance, JS divergence of the findings they assert).",
}

FIGURE_SCALE = 0.62
esc = html.escape


# ---- formatting ------------------------------------------------------------------------------------


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def num(v: Any, digits: int = 3) -> str:
    return f"{v:.{digits}f}" if _finite(v) else "–"


def signed(v: Any, digits: int = 3) -> str:
    return f"{v:+.{digits}f}".replace("-", "−") if _finite(v) else "–"


def pm(pair: Any, digits: int = 3, seeds: Any = None) -> str:
    """[mean, std] -> 'mean ± std' (std small and grey); only the mean for a single seed."""
    if not isinstance(pair, (list, tuple)) or len(pair) != 2:
        return num(pair, digits)
    if seeds == 1:
        return num(pair[0], digits)
    return f"{num(pair[0], digits)}<span class=\"std\"> ± {num(pair[1], digits)}</span>"


def ci(d: dict[str, Any] | None, digits: int = 3) -> str:
    if not isinstance(d, dict):
        return "–"
    return (f"{signed(d.get('diff'), digits)} <span class=\"std\">[{signed(d.get('lo'), digits)}, "
            f"{signed(d.get('hi'), digits)}]</span>")


def _mean(values: Sequence[Any]) -> float | None:
    vals = [v for v in values if _finite(v)]
    return sum(vals) / len(vals) if vals else None


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


# ---- tables ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Col:
    head: str
    group: str = ""
    num: bool = True
    better: str | None = None        # "high" | "low": the best value of the column is bold
    title: str = ""


@dataclass
class Row:
    cells: list[str]
    raw: list[Any] = field(default_factory=list)    # values for best-marking, aligned with cells
    cls: str = ""
    ranked: bool = True                              # takes part in best-marking


def _best(cols: Sequence[Col], rows: Sequence[Row]) -> set[tuple[int, int]]:
    marks = set()
    for j, col in enumerate(cols):
        if col.better is None:
            continue
        vals = [(r.raw[j], i) for i, r in enumerate(rows) if r.ranked and j < len(r.raw) and _finite(r.raw[j])]
        if len(vals) < 2:
            continue
        target = max(v for v, _ in vals) if col.better == "high" else min(v for v, _ in vals)
        marks |= {(i, j) for v, i in vals if abs(v - target) < 1e-12}
    return marks


def table(cols: Sequence[Col], rows: Sequence[Row], caption: str, *, cls: str = "") -> str:
    best = _best(cols, rows)
    head = []
    if any(c.group for c in cols):
        top, j = [], 0
        while j < len(cols):
            c = cols[j]
            if not c.group:
                top.append(f'<th rowspan="2" class="{"num" if c.num else "txt"}" title="{esc(c.title)}">{c.head}</th>')
                j += 1
                continue
            k = j
            while k < len(cols) and cols[k].group == c.group:
                k += 1
            top.append(f'<th colspan="{k - j}" class="group">{c.group}</th>')
            j = k
        head.append("<tr>" + "".join(top) + "</tr>")
        head.append("<tr>" + "".join(f'<th class="{"num" if c.num else "txt"}" title="{esc(c.title)}">{c.head}</th>'
                                     for c in cols if c.group) + "</tr>")
    else:
        head.append("<tr>" + "".join(f'<th class="{"num" if c.num else "txt"}" title="{esc(c.title)}">{c.head}</th>'
                                     for c in cols) + "</tr>")
    body = []
    for i, r in enumerate(rows):
        if r.cls == "grouprow":
            body.append(f'<tr class="grouprow"><td colspan="{len(cols)}">{r.cells[0]}</td></tr>')
            continue
        tds = []
        for j, cell in enumerate(r.cells):
            klass = ["num" if cols[j].num else "txt"] + (["best"] if (i, j) in best else [])
            tds.append(f'<td class="{" ".join(klass)}">{cell}</td>')
        body.append(f'<tr class="{r.cls}">' + "".join(tds) + "</tr>")
    return (f'<div class="table-wrap"><table class="booktabs {cls}"><caption>{caption}</caption>'
            f'<thead>{"".join(head)}</thead><tbody>{"".join(body)}</tbody></table></div>')


# ---- the page --------------------------------------------------------------------------------------


class Page:
    """Collects sections; knows whether captions get the SYNTHETIC tag."""

    def __init__(self, contents: RunContents) -> None:
        self.c = contents
        self.sections: list[tuple[str, str, str]] = []    # (id, title, body)
        self.absent: list[str] = []

    def caption(self, title: str, text: str = "") -> str:
        tag = '<span class="tag-synthetic">SYNTHETIC</span> ' if self.c.synthetic else ""
        return f'{tag}<span class="cap-title">{title}</span>' + (f' <span class="cap-text">{text}</span>' if text else "")

    def add(self, sid: str, title: str, body: str) -> None:
        self.sections.append((sid, title, body))


def note(text: str) -> str:
    return f'<p class="note">{text}</p>'


def code(text: str) -> str:
    return f"<code>{esc(text)}</code>"


# ---- students (Table 5) ----------------------------------------------------------------------------


def _student_label(s: StudentEval) -> str:
    sub = f'<span class="runname">{esc(s.name)}</span>' if s.label != s.name else ""
    return f"{esc(s.label)}{sub}"


def _students_table(page: Page, split: str, students: list[StudentEval]) -> str:
    cols = [Col("model", num=False)]
    cols += [Col(short, "Top-1 accuracy (balanced)", better="high", title=name) for name, short in MSCXRT_FINDINGS.items()]
    cols += [Col("Avg.", "Top-1 accuracy (balanced)", better="high")]
    cols += [Col(h, "Clinical (example-based)", better="high") for h in ("P", "R", "F1")]
    cols += [Col("err/100", "Drift", better="low", title="drift errors per 100 generated reports")]
    rows = []
    for s in students:
        m = s.metrics
        acc = m.get("accuracy", {})
        clin = (m.get("clinical") or {}).get("example_based", {})
        raw = [None, *[acc.get(f) for f in MSCXRT_FINDINGS], acc.get("average"),
               clin.get("precision"), clin.get("recall"), clin.get("f1"), (m.get("drift_errors") or {}).get("total")]
        cells = [_student_label(s), *[num(v) for v in raw[1:-1]], num(raw[-1], 1)]
        rows.append(Row(cells, raw, cls="ceiling" if s.oracle else "", ranked=not s.oracle))
    n = max((s.metrics.get("n", 0) for s in students), default=0)
    cap = page.caption(f"Students — the paper's Table 5 layout ({esc(split)} split, n = {n}).",
                       "Balanced top-1 accuracy per MS-CXR-T finding (chance 0.500), example-based clinical "
                       "precision / recall / F1 of the labels of the generated reports, and the drift errors the "
                       "reports inherited, per 100 reports. Best student value in bold"
                       + ("; the oracle (italic) is the ceiling and is not ranked." if any(s.oracle for s in students)
                          else "."))
    return table(cols, rows, cap)


def _inherited_gap(page: Page, split: str, students: list[StudentEval]) -> str:
    oracle = next((s for s in students if s.oracle), None)
    if oracle is None:
        return note("No oracle run (SPD on the reference reports: "
                    + code("driftalign spd --targets reference") + ") in this directory: the ceiling row and the "
                    "inherited loss (oracle − student) are not shown.")
    cols = [Col("oracle − model", num=False)] + [Col(sh) for sh in FINDING_SHORT] + [Col("Avg.")]
    oacc = oracle.metrics.get("accuracy", {})
    rows = []
    for s in students:
        if s.oracle:
            continue
        acc = s.metrics.get("accuracy", {})
        keys = [*MSCXRT_FINDINGS, "average"]
        gaps = [oacc.get(k) - acc.get(k) if _finite(oacc.get(k)) and _finite(acc.get(k)) else None for k in keys]
        rows.append(Row([_student_label(s), *[signed(g) for g in gaps]], [None, *gaps]))
    cap = page.caption(f"Inherited loss per finding ({esc(split)} split).",
                       "Balanced accuracy of the oracle minus the student's: what learning from the teachers "
                       "instead of the reference reports cost.")
    return table(cols, rows, cap)


def section_students(page: Page) -> None:
    c = page.c
    if c.experiment is not None:
        section_experiment_students(page)
        return
    groups = c.students_by_split()
    if not groups:
        page.add("students", "Students", note("No evaluation found (" + code("driftalign eval --json RUN/eval/NAME.json")
                                              + "): no student table."))
        return
    parts = []
    for split, students in groups.items():
        parts.append(_students_table(page, split, students))
        parts.append(_inherited_gap(page, split, students))
    page.add("students", "Students", "".join(parts))


def section_experiment_students(page: Page) -> None:
    exp = page.c.experiment
    assert exp is not None
    cols = [Col("model", num=False)] + [Col(sh, "Top-1 accuracy (balanced)", better="high") for sh in FINDING_SHORT]
    cols += [Col("Avg.", "Top-1 accuracy (balanced)", better="high"), Col("clin. F1", better="high"),
             Col("err/100", better="low", title="drift errors per 100 generated reports")]
    keys = [*FINDING_SHORT, "Avg.", "clinical_f1", "err/total"]

    def rows_of(items: list[dict[str, Any]], ranked: bool = True) -> list[Row]:
        out = []
        for r in items:
            oracle = str(r.get("name", "")).startswith("oracle")
            cells = [esc(str(r.get("name", "?")))] + [pm(r.get(k), 1 if k.startswith("err/") else 3, r.get("seeds"))
                                                      for k in keys]
            raw = [None] + [(r.get(k) or [None])[0] if isinstance(r.get(k), list) else r.get(k) for k in keys]
            out.append(Row(cells, raw, cls="ceiling" if oracle else "", ranked=ranked and not oracle))
        return out

    seeds = (page.c.experiment_settings or exp.get("settings") or {}).get("seeds", [])
    seeds_txt = ", ".join(str(s) for s in seeds) if seeds else "?"
    parts = [table(cols, rows_of(exp.get("students", [])), page.caption(
        f"Students — the paper's Table 5 layout (test split; mean ± std over seeds {seeds_txt}).",
        "Balanced top-1 accuracy per MS-CXR-T finding (chance 0.500), example-based clinical F1, drift errors "
        "per 100 generated reports. Best student value in bold; the oracle (italic) is the ceiling."))]
    gap = exp.get("inherited_gap")
    if isinstance(gap, dict) and any(v is not None for v in gap.values()):   # {} when no oracle + SPD pair
        gcols = [Col("", num=False)] + [Col(sh) for sh in FINDING_SHORT] + [Col("Avg.")]
        parts.append(table(gcols, [Row(["oracle − SPD (all teachers)"] + [signed(gap.get(k)) for k in [*FINDING_SHORT, "Avg."]])],
                           page.caption("Inherited loss per finding (mean over seeds).",
                                        "Oracle minus SPD on all teachers: what learning from the teachers cost.")))
    page.add("students", "Students", "".join(parts))


# ---- teachers (Table 2) ----------------------------------------------------------------------------


def _prompt_kind(page: Page) -> str:
    from driftalign.constants import CXR_MAX_PROMPT, UNHINTED_PROMPT

    ds = page.c.dataset
    if ds is None:
        return ""
    try:
        with (ds / "trajectories.jsonl").open(encoding="utf-8") as f:
            import json

            prompt = json.loads(f.readline()).get("prompt", "")
    except (OSError, ValueError, AttributeError):
        return ""
    if prompt.startswith(CXR_MAX_PROMPT.split("{")[0]):
        return "hinted (CXR-MAX: the prompt names the diagnoses)"
    if prompt.startswith(UNHINTED_PROMPT.split("{")[0]):
        return "unhinted (the paper's Table 2 setting)"
    return ""


def section_teachers(page: Page) -> None:
    c = page.c
    if c.experiment is not None and c.experiment.get("teachers"):
        section_experiment_teachers(page)
        return
    if c.drift is None:
        page.add("teachers", "Teachers", note("No " + code("drift/drift.json") + " (" +
                                              code("driftalign drift DATA --out RUN/drift") + "): no teacher table."))
        return
    rep = c.drift.report
    cols = [Col("teacher", num=False)] + [Col(sh, "Accuracy per finding", better="high", title=name)
                                          for name, sh in MSCXRT_FINDINGS.items()]
    cols += [Col("Avg.", "Accuracy per finding", better="high")]
    cols += [Col(h, "Findings vs reference", better="high") for h in ("P", "R", "F1")]
    cols += [Col("sim.", better="high", title="mean cosine similarity of trajectory and reference report"),
             Col("refusal", better="low", title="share of refused answers"),
             Col("err/100", better="low", title="drift errors per 100 trajectories")]
    rows = []
    for name in rep.get("teachers", []):
        m = rep["per_teacher"].get(name, {})
        acc = m.get("finding_accuracy", {})
        accs = [acc.get(f) for f in MSCXRT_FINDINGS]
        raw = [None, *accs, _mean(accs), m.get("precision"), m.get("recall"), m.get("f1"), m.get("similarity"),
               m.get("refusal_rate"), (m.get("drift_errors") or {}).get("total")]
        refusal = f"{100 * raw[11]:.1f}%" if _finite(raw[11]) else "–"
        cells = [esc(name), *[num(v) for v in raw[1:11]], refusal, num(raw[12], 1)]
        rows.append(Row(cells, raw))
    gap = rep.get("accuracy_gap") or {}
    if gap:
        gaps = [gap.get(f) for f in MSCXRT_FINDINGS]
        rows.append(Row(["gap (best − worst)", *[num(g) for g in gaps], num(_mean(gaps)), "", "", "", "", "", ""],
                        cls="summary", ranked=False))
    prompt = _prompt_kind(page)
    where = "" if c.drift.dir == c.run_dir / "drift" else f"{esc(_rel(page, c.drift.dir))}, "
    cap = page.caption(
        f"Teachers — the paper's Table 2 layout ({where}{esc(str(rep.get('split')))} split, {rep.get('n_studies')} studies, "
        f"{rep.get('n_trajectories')} trajectories).",
        "Accuracy per MS-CXR-T finding of the labels of each teacher's trajectories (all studies of the split, "
        "not balanced; uncertain labels left out), precision / recall / F1 of the findings they assert "
        "against the study labels, similarity to the reference report, refusal rate, drift errors per 100 "
        "trajectories." + (f" Prompt: {esc(prompt)}." if prompt else ""))
    page.add("teachers", "Teachers", table(cols, rows, cap))


def section_experiment_teachers(page: Page) -> None:
    exp = page.c.experiment
    assert exp is not None
    cols = [Col("teacher", num=False)] + [Col(sh, "Accuracy per finding (balanced)", better="high") for sh in FINDING_SHORT]
    cols += [Col("Avg.", "Accuracy per finding (balanced)", better="high"), Col("clin. F1", better="high"),
             Col("err/100", better="low")]
    keys = [*FINDING_SHORT, "Avg.", "clinical_f1", "err/total"]
    rows = [Row([esc(str(r.get("name")))] + [pm(r.get(k), 1 if k.startswith("err/") else 3, r.get("seeds")) for k in keys],
                [None] + [(r.get(k) or [None])[0] if isinstance(r.get(k), list) else None for k in keys])
            for r in exp.get("teachers", [])]
    cap = page.caption("Teachers — the paper's Table 2 layout (unhinted prompt, test split; mean ± std over seeds).",
                       "Each simulated teacher answers the unhinted prompt on the test studies; scored like the students.")
    page.add("teachers", "Teachers", table(cols, rows, cap))


# ---- inherited drift by kind -----------------------------------------------------------------------


def section_drift_errors(page: Page) -> None:
    c = page.c
    cols = [Col("model", num=False)] + [Col(KIND_SHORT[k], better="low", title=ERROR_LABELS[k]) for k in ERROR_KINDS]
    cols += [Col("total", better="low")]
    rows: list[Row] = []
    if c.experiment is not None:
        for group, items in (("Students: generated reports (mean ± std over seeds)", c.experiment.get("students", [])),
                             ("Teachers: unhinted answers", c.experiment.get("teachers", []))):
            if not items:
                continue
            rows.append(Row([group], cls="grouprow"))
            for r in items:
                keys = [f"err/{k}" for k in (*ERROR_KINDS, "total")]
                oracle = str(r.get("name")).startswith("oracle")
                rows.append(Row([esc(str(r.get("name")))] + [pm(r.get(k), 1, r.get("seeds")) for k in keys],
                                [None] + [(r.get(k) or [None])[0] if isinstance(r.get(k), list) else None for k in keys],
                                cls="ceiling" if oracle else "", ranked=group.startswith("Students") and not oracle))
    else:
        for split, students in c.students_by_split().items():
            n = max((s.metrics.get("n", 0) for s in students), default=0)
            rows.append(Row([f"Students: generated reports ({esc(split)} split, n = {n})"], cls="grouprow"))
            for s in students:
                d = s.metrics.get("drift_errors") or {}
                raw = [None, *[d.get(k) for k in (*ERROR_KINDS, "total")]]
                rows.append(Row([_student_label(s), *[num(v, 1) for v in raw[1:]]], raw,
                                cls="ceiling" if s.oracle else "", ranked=not s.oracle))
    if c.drift is not None and not (c.experiment or {}).get("teachers"):
        rep = c.drift.report
        group = f"Teachers: trajectories ({esc(str(rep.get('split')))} split, {rep.get('n_studies')} studies)"
        rows.append(Row([group], cls="grouprow"))
        for name in rep.get("teachers", []):
            d = (rep["per_teacher"].get(name) or {}).get("drift_errors") or {}
            raw = [None, *[d.get(k) for k in (*ERROR_KINDS, "total")]]
            rows.append(Row([esc(name), *[num(v, 1) for v in raw[1:]]], raw, ranked=False))
    if not rows:
        page.absent.append("drift errors by kind (needs an evaluation or drift/drift.json)")
        return
    cap = page.caption("Drift errors per 100 texts, by kind (the kinds of the APO paper's Fig. 1b).",
                       "Invented finding, wrong side, over-generalisation (one side called bilateral), wrong location, "
                       "sign inconsistency (an opacity called dark, a pneumothorax white), counted by "
                       + code("drift.errors") + " against the study labels and reference report: for the students, "
                       "the drift their reports inherited. Lowest student value in bold.")
    page.add("drift-errors", "Inherited drift", table(cols, rows, cap))


# ---- comparisons (paired bootstrap) ----------------------------------------------------------------


def section_comparisons(page: Page) -> None:
    c = page.c
    items: list[tuple[str, str, dict[str, Any]]] = []
    for v in summary_verdicts(c.demo_summary):
        verdict = "yes" if v.beat else "no"
        items.append((f"{esc(v.run)} − {esc(v.baseline)}", f'<span class="verdict {verdict}">{verdict}</span>',
                      {"avg_accuracy": v.avg_accuracy, "clinical_f1": v.clinical_f1,
                       "drift_errors_per_100": v.drift_errors_per_100}))
    if c.experiment is not None:
        for v in c.experiment.get("bootstrap", []):
            items.append((esc(str(v.get("name"))), esc(str(v.get("seeds", ""))), v))
    if not items:
        return
    second = "beat it?" if c.experiment is None else "seeds"
    cols = [Col("comparison", num=False), Col(second, num=False), Col("Δ avg. accuracy"), Col("Δ clinical F1"),
            Col("Δ drift err/100")]
    rows = [Row([name, mid, ci(v.get("avg_accuracy")), ci(v.get("clinical_f1")), ci(v.get("drift_errors_per_100"), 1)])
            for name, mid, v in items]
    cap = page.caption("Each method against its baseline: paired bootstrap, 95% confidence intervals.",
                       "Differences on the same test studies (method − baseline), resampled by study. “beat it”: the "
                       "accuracy CI is above 0 or the drift-error CI below 0, and neither is significantly worse.")
    page.add("comparisons", "Method vs baseline", table(cols, rows, cap))


# ---- consensus ---------------------------------------------------------------------------------------


def section_consensus(page: Page) -> None:
    c = page.c
    parts = []
    for cons in ([] if c.experiment is not None else c.consensus):   # the experiment's table.json has its own
        q = cons.summary.get("quality") or {}
        if not q:
            continue
        cols = [Col("", num=False)] + [Col(sh, "Accuracy per finding", better="high") for sh in FINDING_SHORT]
        cols += [Col("Avg.", "Accuracy per finding", better="high")] + [Col(h, "Labels vs study", better="high")
                                                                          for h in ("P", "R", "F1")]

        def row(name: str, d: dict[str, Any], cls: str = "") -> Row:
            acc = d.get("accuracy") or {}
            raw = [None, *[acc.get(f) for f in MSCXRT_FINDINGS], acc.get("average"), d.get("precision"),
                   d.get("recall"), d.get("f1")]
            return Row([name, *[num(v) for v in raw[1:]]], raw, cls=cls)

        rows = [row(f"consensus t+ ({esc(cons.strategy)})", q.get("consensus") or {}, "highlight")]
        rows += [row(esc(t), d) for t, d in sorted((q.get("teachers") or {}).items())]
        rel = cons.path.relative_to(c.run_dir) if cons.path.is_relative_to(c.run_dir) else cons.path
        parts.append(table(cols, rows, page.caption(
            f"Consensus t+ against the teachers ({esc(str(rel))}, {cons.summary.get('rows')} studies).",
            "Labels of t+ and of each teacher's trajectory against the study labels, on the studies the "
            "consensus covers (the train split by default).")))
    if c.experiment is not None and c.experiment.get("consensus"):
        cols = [Col("strategy", num=False), Col("rows"), Col("label F1", better="high"), Col("avg. accuracy", better="high")]
        rows = [Row([esc(str(r.get("strategy"))), str(r.get("rows")), num(r.get("f1")), num(r.get("avg_accuracy"))],
                    [None, None, r.get("f1"), r.get("avg_accuracy")]) for r in c.experiment["consensus"]]
        parts.append(table(cols, rows, page.caption("Consensus t+ quality on the train split (seed 0).")))
    if parts:
        page.add("consensus", "Consensus t+", "".join(parts))


# ---- DEER ---------------------------------------------------------------------------------------------


def _rel(page: Page, p: Path) -> str:
    return str(p.relative_to(page.c.run_dir)) if p.is_relative_to(page.c.run_dir) else str(p)


def _deer_layouts(page: Page, deer: dict[str, Any]) -> list[str]:
    """DEER's Table 1 and Table 7 layouts of a multi-seed run (experiment.json's `deer`, `pipeline.deer_tables`)."""
    from driftalign.pipeline.deer_tables import TABLE1, TABLE7

    seeds = ", ".join(map(str, deer.get("seeds", [])))
    cols1 = [Col("student", num=False), *(Col(h, better="high") for h in TABLE1)]
    rows1 = [Row([esc(name), *(pm(row.get(h), seeds=row.get("seeds")) for h in TABLE1)],
                 raw=[None, *((row.get(h) or [None])[0] for h in TABLE1)])
             for name, row in (deer.get("table1") or {}).items()]
    cols7 = [Col("run", num=False), *(Col(h, better="low") for h in TABLE7)]
    rows7 = [Row([esc(name), *(pm(row.get(h), seeds=row.get("seeds")) for h in TABLE7)],
                 raw=[None, *((row.get(h) or [None])[0] for h in TABLE7)])
             for name, row in (deer.get("table7") or {}).items()]
    return [table(cols1, rows1, page.caption(
                f"DEER Table 1 layout: report quality, mean ± std over seeds {seeds}.",
                "CE = micro precision / recall / F1 over the 14 observations (positive = 1); BLEU-4, METEOR, "
                "ROUGE-L against the reference report; example-based clinical F1.")),
            table(cols7, rows7, page.caption(
                f"DEER Table 7 layout: groups with no learning signal, mean ± std over seeds {seeds}.",
                "Share of reward groups whose G rewards were all equal (TRL's frac_reward_zero_std, mean over "
                "logged steps; phase 1 = F1 reward only), and the share of the run's training studies whose K "
                "DDSampling samples of the SFT model had identical labels (D = 0)."))]


def section_deer(page: Page) -> None:
    c = page.c
    parts = []
    if c.ddsample:
        cols = [Col("output", num=False), Col("split", num=False), Col("studies"), Col("K"), Col("subset"),
                Col("mean D (all)"), Col("mean D (subset)"), Col("seed"), Col("uncertain", num=False)]
        rows = []
        for d in c.ddsample:
            s = d.summary
            rows.append(Row([esc(_rel(page, d.dir)), esc(str(s.get("split", "?"))), str(s.get("studies")),
                             str(s.get("k", "–")), str(s.get("subset")), num(s.get("mean_d_all")),
                             num(s.get("mean_d_subset")), str(s.get("seed", "–")), esc(str(s.get("uncertain", "–")))]))
        parts.append(table(cols, rows, page.caption(
            "DDSampling: the RL subset (DEER eq. 3-5).",
            "D = diagnostic diversity of a study (sum over the 14 labels of their standard deviation over K samples); "
            "the subset is drawn by rank with P ∝ 1 / log(rank + 1).")))
    if c.grpo:
        cols = [Col("output", num=False), Col("method", num=False), Col("studies"), Col("subset", num=False),
                Col("trainable / total params", num=False), Col("steps"), Col("reward (first → last)", num=False),
                Col("reward F1 (last)"), Col("γ (last)")]
        rows = []
        for g in c.grpo:
            logged = [r for r in g.log if "train_runtime" not in r]
            rewards = [r["reward"] for r in logged if _finite(r.get("reward"))]
            last = logged[-1] if logged else {}
            cfg = g.config or {}
            weights = cfg.get("token_weights")
            method = "GRPO" if weights == "none" else (f"DiTPO ({esc(str(weights))})" if weights else "GRPO / DiTPO")
            tp, total = g.data.get("trainable_parameters"), g.data.get("parameters")
            params = f"{tp:,} / {total:,}" if isinstance(tp, int) and isinstance(total, int) else "–"
            subset = Path(str(g.data["subset"])).name if g.data.get("subset") else "all"
            rows.append(Row([esc(_rel(page, g.dir)), method, str(g.data.get("studies", "–")), esc(subset), params,
                             str(last.get("step", "–")),
                             f"{num(rewards[0])} → {num(rewards[-1])}" if rewards else "–",
                             num(last.get("reward/f1")), num(last.get("reward/gamma"), 2)]))
        parts.append(table(cols, rows, page.caption(
            "GRPO / DiTPO training runs (DEER).",
            "Reward = label F1 of the completion against the reference + γ · BLEU-2 (γ = 0 in phase 1, 0.25 in "
            "phase 2); the trained model's test metrics are in the students' table when it was evaluated.")))
    deer = (c.experiment or {}).get("deer")
    if deer:
        parts += _deer_layouts(page, deer)
    if parts:
        page.add("deer", "DEER: DDSampling and GRPO", "".join(parts))
    else:
        page.absent.append("DEER tables (no " + code("driftalign ddsample") + " or " + code("driftalign grpo") +
                           " output)")


# ---- figures -------------------------------------------------------------------------------------------


APO_CAPTION = (
    "One row per APO stage, from its OUT/trainer_log.jsonl; a panel or line the stage did not log is left out. "
    "(a) Absolute log-probability per token of t+ (green) and of the negatives (red) under the policy (solid) and "
    "the SPD reference (dashed): both falling below the reference while the rewards rise is likelihood displacement. "
    "(b) Mean words per greedy report on a fixed subset of studies (--eval-every): falling means reports shrink "
    "towards t+'s style. "
    "(c) Invented findings and all drift errors per 100 of those reports: the drift APO should lower. "
    "(d) Balanced top-1 accuracy on those reports, averaged over the MS-CXR-T findings defined on the subset.")


def section_figures(page: Page, curves: bytes | None, apo: bytes | None = None) -> None:
    c = page.c
    figs = []
    if c.drift is not None:
        for p in c.drift.plots:
            try:
                png = p.read_bytes()
            except OSError:
                continue
            text = PLOT_CAPTIONS.get(p.stem, esc(p.name))
            figs.append(f'<figure>{_img(png, p.stem)}<figcaption>'
                        f'{page.caption(esc(p.name) + ".", text)}</figcaption></figure>')
    if curves is not None:
        figs.append(f'<figure>{_img(curves, "training curves")}<figcaption>'
                    f'{page.caption("Training curves.", "Loss per logged step of each training stage (OUT/trainer_log.jsonl); GRPO: mean reward, dashed.")}'
                    "</figcaption></figure>")
    if apo is not None:
        figs.append(f'<figure>{_img(apo, "what APO learns while it trains")}<figcaption>'
                    f'{page.caption("What APO learns while it trains.", APO_CAPTION)}</figcaption></figure>')
    if not figs:
        page.add("figures", "Figures", note("No drift plots (" + code("driftalign drift --plots") +
                                            ") and no training log in this directory."))
        return
    page.add("figures", "Figures", '<div class="figures">' + "".join(figs) + "</div>")


def _img(png: bytes, alt: str) -> str:
    """An inline PNG shown at FIGURE_SCALE of its pixel width (the PNGs are drawn at 110-130 dpi)."""
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(png)) as im:
            width = f' width="{round(im.width * FIGURE_SCALE)}"'
    except Exception:  # noqa: BLE001 — an odd PNG is still shown, at its own size
        width = ""
    return f'<img src="{data_uri(png)}"{width} alt="{esc(alt)}">'


# ---- examples (Fig. 1b) ---------------------------------------------------------------------------------


def marked_text(a: Annotated) -> str:
    """The text, HTML-escaped, with each flagged sentence in a <mark> of its error kinds."""
    out, pos = [], 0
    for h in a.spans:
        out.append(esc(a.text[pos:h.start]))
        kinds = " ".join(f"err-{k}" for k in h.kinds)
        labels = ", ".join(ERROR_LABELS[k] for k in h.kinds)
        out.append(f'<mark class="err {kinds}" title="{esc(labels)}">{esc(a.text[h.start:h.end])}</mark>'
                   f'<span class="errtag err-{h.kinds[0]}">{esc(labels)}</span>')
        pos = h.end
    out.append(esc(a.text[pos:]))
    return "".join(out)


def _badge(a: Annotated) -> str:
    if a.errors.total == 0:
        return '<span class="badge ok">no drift error</span>'
    parts = [f"{ERROR_LABELS[k]} ×{c}" if c > 1 else ERROR_LABELS[k] for k, c in a.errors.counts.items() if c]
    return f'<span class="badge bad">{a.errors.total} drift error{"s" if a.errors.total > 1 else ""}: {esc(", ".join(parts))}</span>'


def _card(a: Annotated) -> str:
    detail = f'<div class="detail">{esc(a.detail)}</div>' if a.detail else ""
    return (f'<div class="card {a.role}"><div class="card-head"><h4>{esc(a.who)}</h4>{detail}{_badge(a)}</div>'
            f'<div class="text">{marked_text(a)}</div></div>')


def _example(page: Page, i: int, ex: Example) -> str:
    st = ex.study
    positives = ", ".join(st.positive_findings()) or "No Finding"
    img = (f'<img class="xray" src="{ex.image_data_uri}" alt="study {esc(st.study_id)}">' if ex.image_data_uri else
           '<div class="xray missing">image not available</div>')
    tag = '<span class="tag-synthetic">SYNTHETIC</span> ' if page.c.synthetic else ""
    head = (f'<div class="example-head">{img}<div class="truth"><h3>{tag}Example {i}: study {esc(st.study_id)} '
            f'<span class="split">({esc(st.split)} split)</span></h3>'
            f'<p><span class="lbl">Positive labels</span> {esc(positives)}</p>'
            f'<p><span class="lbl">Reference report</span> {esc(st.report) or "<em>none</em>"}</p></div></div>')
    teachers = "".join(_card(a) for a in ex.teachers)
    lower = "".join(_card(a) for a in ([ex.consensus] if ex.consensus else []) + list(ex.students))
    body = head + f'<h5>Teachers\' trajectories</h5><div class="grid">{teachers}</div>'
    if lower:
        body += f'<h5>Consensus t+ and students\' reports</h5><div class="grid">{lower}</div>'
    return f'<article class="example">{body}</article>'


def legend() -> str:
    items = "".join(f'<span class="legend-item"><mark class="err err-{k}">{esc(ERROR_LABELS[k])}</mark></span>'
                    for k in ERROR_KINDS)
    return f'<div class="legend">Marked drift errors: {items}</div>'


def section_examples(page: Page, examples: list[Example], notes: list[str]) -> None:
    if not examples:
        page.add("examples", "Examples", note("No examples: " + "; ".join(esc(n) for n in notes) if notes else
                                              "No examples: no dataset directory with trajectories found."))
        return
    intro = ("<p class=\"lead\">A few test studies, chosen deterministically to show each kind of drift error a "
             "student made (greedy over error kinds, then studies where students differ). Every teacher's "
             "trajectory, the consensus t+ and each student's report; the sentences the drift detectors flag are "
             "marked — each mark is one unit of the err/100 columns above (the APO paper's Fig. 1b).</p>")
    extra = "".join(note(esc(n)) for n in notes)
    page.add("examples", "Examples (Fig. 1b)", intro + legend() + extra +
             "".join(_example(page, i + 1, ex) for i, ex in enumerate(examples)))


# ---- benchmarks ---------------------------------------------------------------------------------------


BENCH_FIRST = ("preset", "system", "N", "image_tokens")
BENCH_HEADS = {"image_tokens": "image tokens", "seconds": "loop (s)", "setup_s": "setup (s)", "studies_per_s": "studies/s",
               "peak_rss_mb": "peak RSS (MB)", "vision_images_per_study": "vision images / study",
               "token_positions_per_study": "token positions / study"}


def _bench_cell(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return esc(str(v)) if v is not None else "–"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return num(v, 0 if abs(v) >= 100 else 2 if abs(v) >= 1 else 3)
    return esc(str(v))


def section_benchmarks(page: Page) -> None:
    c = page.c
    if not c.benchmarks:
        page.absent.append("benchmark table (no bench_*.json)")
        return
    parts = []
    for b in c.benchmarks:
        keys: list[str] = [k for k in BENCH_FIRST if any(k in r for r in b.rows)]
        for r in b.rows:
            keys += [k for k in r if k not in keys]
        trl = {(r.get("preset"), r.get("N"), r.get("image_tokens")): r.get("studies_per_s")
               for r in b.rows if r.get("system") == "trl" and _finite(r.get("studies_per_s"))}
        with_ratio = bool(trl) and "studies_per_s" in keys
        if with_ratio:
            keys.insert(keys.index("studies_per_s") + 1, "ratio vs TRL")
        cols = [Col(esc(BENCH_HEADS.get(k, k.replace("_", " "))), num=k not in ("preset", "system", "error"))
                for k in keys]
        rows = []
        for r in b.rows:
            cells = []
            for k in keys:
                if k == "ratio vs TRL":
                    base = trl.get((r.get("preset"), r.get("N"), r.get("image_tokens")))
                    v = r.get("studies_per_s")
                    cells.append(f"{v / base:.2f}×" if base and _finite(v) else "–")
                else:
                    cells.append(_bench_cell(r.get(k)))
            rows.append(Row(cells))
        parts.append(table(cols, rows, page.caption(
            f"Benchmark: {esc(_rel(page, b.path))}.",
            "Rows as the benchmark wrote them (throughput and memory, measured on the benchmark's own generated "
            "inputs; not quality numbers).")))
    page.add("benchmarks", "Benchmarks", "".join(parts))


# ---- run details ----------------------------------------------------------------------------------------


def _flat(items: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Nested config sections as dotted keys ("spd.max_steps"); lists as comma-separated values."""
    out = []
    for k, v in items.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out += _flat(v, key + ".") if v else [(key, "{}")]
        elif isinstance(v, list):
            out.append((key, ", ".join(str(x) if not isinstance(x, dict) else
                                       "{" + ", ".join(f"{a}: {b}" for a, b in x.items()) + "}" for x in v)))
        else:
            out.append((key, str(v)))
    return out


def _kv_table(page: Page, title: str, items: dict[str, Any], text: str = "") -> str:
    """A folded key/value table (configs): open it to read."""
    rows = [Row([esc(k), esc(v)]) for k, v in _flat(items)]
    inner = table([Col("option", num=False), Col("value", num=False)], rows, page.caption(title, text), cls="kv")
    return f"<details><summary>{esc(title)}</summary>{inner}</details>"


def section_run(page: Page) -> None:
    c = page.c
    parts = []
    timings = (c.demo_summary or {}).get("timings_s") or {}
    if timings:
        rows = [Row([esc(k), num(v, 1)]) for k, v in timings.items()]
        rows.append(Row(["total", num(sum(v for v in timings.values() if _finite(v)), 1)], cls="summary"))
        parts.append(table([Col("stage", num=False), Col("seconds")], rows, page.caption("Stage timings.")))
    if c.run_config:
        parts.append(_kv_table(page, "Run configuration.", c.run_config))
    if c.experiment_settings:
        parts.append(_kv_table(page, "Experiment settings.", c.experiment_settings))
    if c.experiment and c.experiment.get("val"):
        cols = [Col("run (val split, seed 0)", num=False), Col("Avg.", better="high"), Col("clin. F1", better="high"),
                Col("err/100", better="low")]
        rows = [Row([esc(str(r.get("name"))), num(r.get("Avg.")), num(r.get("clinical_f1")),
                     num((r.get("drift_errors") or {}).get("total"), 1)],
                    [None, r.get("Avg."), r.get("clinical_f1"), (r.get("drift_errors") or {}).get("total")])
                for r in c.experiment["val"]]
        parts.append(table(cols, rows, page.caption(
            "Variant selection on the val split.", f"Selected: <strong>{esc(str(c.experiment.get('best_variant')))}</strong>.")))
    if c.notes:
        parts.append("<h3>Notes</h3><ul class=\"absent\">" + "".join(f"<li>{esc(n)}</li>" for n in c.notes) + "</ul>")
    if page.absent:
        parts.append("<h3>Not in this run</h3><ul class=\"absent\">" + "".join(f"<li>{a}</li>" for a in page.absent)
                     + "</ul>")
    if parts:
        page.add("run", "Run details", "".join(parts))


# ---- headline -----------------------------------------------------------------------------------------


def headline(c: RunContents) -> str:
    lines = []
    for v in summary_verdicts(c.demo_summary):
        verdict = "yes" if v.beat else "no"
        lines.append(f"<strong>{esc(v.run)} beat {esc(v.baseline)} on this run: "
                     f'<span class="verdict {verdict}">{verdict}</span></strong> — Δ avg. accuracy {ci(v.avg_accuracy)}, '
                     f"Δ drift errors per 100 reports {ci(v.drift_errors_per_100, 1)} (paired bootstrap, 95% CI).")
    if c.experiment is not None:
        pooled = next((b for b in c.experiment.get("bootstrap", []) if "pooled" in str(b.get("name"))), None)
        if pooled:
            lines.append(f"<strong>{esc(str(pooled.get('name')))}</strong>: Δ avg. accuracy "
                         f"{ci(pooled.get('avg_accuracy'))}, Δ clinical F1 {ci(pooled.get('clinical_f1'))}, "
                         f"Δ drift errors per 100 {ci(pooled.get('drift_errors_per_100'), 1)}.")
    return "".join(f"<p>{line}</p>" for line in lines)


# ---- assembly -----------------------------------------------------------------------------------------


CSS = """
:root { --ink:#1b1f24; --muted:#5f6b76; --rule:#1b1f24; --line:#d9dee3; --accent:#1c5d99; --paper:#ffffff; --bg:#f6f7f9; }
* { box-sizing: border-box; }
html { background: var(--bg); }
body { margin: 0; color: var(--ink); background: var(--bg);
  font-family: "Inter", "Segoe UI", "Helvetica Neue", Helvetica, Arial, "Liberation Sans", "DejaVu Sans", sans-serif;
  font-size: 15px; line-height: 1.5; -webkit-font-smoothing: antialiased; }
.banner { background: #fff4e0; border-bottom: 1px solid #f1c27d; color: #7a3e00; padding: 10px 24px; font-size: 14px; }
.banner strong { letter-spacing: .08em; }
.page { max-width: 1240px; margin: 0 auto; padding: 8px 32px 48px; }
header.top { padding: 22px 0 10px; border-bottom: 1px solid var(--line); }
header.top h1 { font-size: 28px; margin: 0 0 4px; font-weight: 650; letter-spacing: -.01em; }
header.top .meta { color: var(--muted); font-size: 13px; margin: 0; }
header.top .meta code { font-size: 12px; }
.headline { background: var(--paper); border: 1px solid var(--line); border-left: 4px solid var(--accent);
  border-radius: 6px; padding: 8px 16px; margin: 16px 0 0; font-size: 14.5px; }
.headline p { margin: 6px 0; }
nav.toc { margin: 14px 0 0; font-size: 13.5px; }
nav.toc a { color: var(--accent); text-decoration: none; margin-right: 16px; white-space: nowrap; }
section { background: var(--paper); border: 1px solid var(--line); border-radius: 8px; padding: 8px 26px 18px;
  margin: 22px 0 0; }
section > h2 { font-size: 20px; font-weight: 650; margin: 14px 0 6px; letter-spacing: -.005em; }
h3 { font-size: 16px; margin: 18px 0 6px; }
h5 { font-size: 12px; text-transform: uppercase; letter-spacing: .06em; color: var(--muted); margin: 14px 0 6px; }
code { font-family: "DejaVu Sans Mono", "Liberation Mono", Menlo, Consolas, monospace; font-size: .88em;
  background: #f0f2f4; padding: 1px 4px; border-radius: 3px; }
.note { color: var(--muted); font-size: 13.5px; font-style: italic; margin: 10px 0; }
.lead { color: #333; font-size: 14px; margin: 8px 0 10px; }
.tag-synthetic { display: inline-block; font-size: 10.5px; font-weight: 700; letter-spacing: .08em; color: #8a4b00;
  background: #ffe8c7; border: 1px solid #f0b96a; border-radius: 3px; padding: 0 5px; vertical-align: 1px;
  font-style: normal; }
.table-wrap { overflow-x: auto; margin: 16px 0 10px; }
table.booktabs { border-collapse: collapse; border-top: 2px solid var(--rule); border-bottom: 2px solid var(--rule);
  font-size: 13.5px; font-variant-numeric: tabular-nums lining-nums; min-width: 50%; }
table.booktabs caption { caption-side: top; text-align: left; padding: 0 0 8px; font-size: 13px; color: #333;
  max-width: 1100px; line-height: 1.45; }
.cap-title { font-weight: 650; color: var(--ink); }
.cap-text { color: var(--muted); }
table.booktabs th { font-weight: 600; padding: 5px 10px; border-bottom: 1px solid var(--rule); vertical-align: bottom;
  white-space: nowrap; }
table.booktabs th.group { border-bottom: none; text-align: center; font-weight: 600; color: #333;
  background-image: linear-gradient(var(--rule), var(--rule)); background-size: calc(100% - 14px) 1px;
  background-position: center bottom; background-repeat: no-repeat; }
table.booktabs td { padding: 4px 10px; border: none; vertical-align: top; }
table.booktabs tbody tr:first-child td { padding-top: 7px; }
table.booktabs tbody tr:last-child td { padding-bottom: 7px; }
table.booktabs .num { text-align: right; white-space: nowrap; }
table.booktabs .txt { text-align: left; }
table.booktabs td.best { font-weight: 700; }
table.booktabs tr.ceiling td { font-style: italic; color: #4a5561; border-bottom: 1px solid #9aa4ad; }
table.booktabs tr.summary td { border-top: 1px solid #9aa4ad; color: #4a5561; }
table.booktabs tr.highlight td { background: #eef6ee; }
table.booktabs tr.grouprow td { font-size: 12px; text-transform: uppercase; letter-spacing: .05em; color: var(--muted);
  padding-top: 10px; border-bottom: 1px solid var(--line); }
table.booktabs tr.grouprow:not(:first-child) td { border-top: 1px solid #9aa4ad; }
table.booktabs.kv td.txt:first-child { color: var(--muted); }
.runname { display: block; font-size: 11px; color: var(--muted); font-family: "DejaVu Sans Mono", monospace; }
.std { color: #7b8590; font-size: .86em; }
.verdict { padding: 0 6px; border-radius: 3px; font-weight: 700; }
.verdict.yes { background: #d3f9d8; color: #1b5e20; }
.verdict.no { background: #ffe3e3; color: #8b1a1a; }
.figures { display: flex; flex-wrap: wrap; gap: 8px 28px; align-items: flex-start; }
figure { margin: 14px 0; max-width: 100%; }
figure img { max-width: 100%; height: auto; display: block; border: 1px solid var(--line); border-radius: 4px; }
figcaption { font-size: 13px; margin-top: 6px; color: #333; max-width: 640px; }
.legend { font-size: 13px; margin: 6px 0 12px; color: var(--muted); }
.legend-item { margin-right: 10px; }
article.example { border-top: 1px solid var(--line); padding-top: 14px; margin-top: 18px; }
.example-head { display: flex; gap: 18px; align-items: flex-start; }
.xray { width: 168px; height: 168px; image-rendering: pixelated; border-radius: 4px; flex: none;
  background: #000; object-fit: contain; }
.xray.missing { color: #aaa; font-size: 12px; display: flex; align-items: center; justify-content: center; }
.truth h3 { margin: 0 0 6px; }
.truth p { margin: 4px 0; font-size: 13.5px; }
.truth .split { color: var(--muted); font-weight: 400; font-size: 13px; }
.lbl { display: inline-block; min-width: 118px; font-size: 11.5px; text-transform: uppercase; letter-spacing: .05em;
  color: var(--muted); }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(265px, 1fr)); gap: 10px; }
.card { border: 1px solid var(--line); border-top: 3px solid #adb5bd; border-radius: 6px; padding: 8px 11px 10px;
  background: #fff; font-size: 12.5px; line-height: 1.45; }
.card.consensus { border-top-color: #2f9e44; background: #fbfefb; }
.card.student { border-top-color: var(--accent); background: #fbfcfe; }
.card-head h4 { margin: 0; font-size: 13px; font-weight: 650; }
.card-head .detail { color: var(--muted); font-size: 11px; font-family: "DejaVu Sans Mono", monospace; }
.badge { display: inline-block; margin: 4px 0 6px; font-size: 11px; border-radius: 10px; padding: 0 8px; }
.badge.ok { background: #e6f4ea; color: #1e6b34; }
.badge.bad { background: #fdecec; color: #9b1c1c; }
.card .text { white-space: pre-wrap; word-wrap: break-word; color: #222; }
mark.err { color: inherit; border-radius: 2px; padding: 0 1px; }
mark.err-invented { background: #ffd6d6; box-shadow: inset 0 -2px 0 #d62828; }
mark.err-wrong_side { background: #ffe3bf; box-shadow: inset 0 -2px 0 #e67700; }
mark.err-overgeneralisation { background: #fff1b8; box-shadow: inset 0 -2px 0 #c99700; }
mark.err-wrong_location { background: #e8defc; box-shadow: inset 0 -2px 0 #7048e8; }
mark.err-sign { background: #d3eafd; box-shadow: inset 0 -2px 0 #1c7ed6; }
.errtag { font-size: 9.5px; font-weight: 700; text-transform: uppercase; letter-spacing: .04em; margin-left: 3px;
  vertical-align: 1px; white-space: nowrap; }
.errtag.err-invented { color: #b51f1f; } .errtag.err-wrong_side { color: #b35c00; }
.errtag.err-overgeneralisation { color: #8f6b00; } .errtag.err-wrong_location { color: #5a36c9; }
.errtag.err-sign { color: #17609f; }
ul.absent { color: var(--muted); font-size: 13.5px; }
details { margin: 12px 0; font-size: 14px; }
details > summary { cursor: pointer; color: var(--accent); }
footer { color: var(--muted); font-size: 12px; margin: 28px 0 0; text-align: center; }
@media print { html, body { background: #fff; } section { border: none; padding: 0; } nav.toc { display: none; }
  .card { break-inside: avoid; } }
"""


def render(c: RunContents, examples: list[Example], example_notes: list[str], curves: bytes | None,
           generated: _dt.datetime | None = None, *, apo: bytes | None = None) -> str:
    """The whole page as one string."""
    page = Page(c)
    builders: list[Callable[[], None]] = [
        lambda: section_students(page), lambda: section_teachers(page), lambda: section_drift_errors(page),
        lambda: section_comparisons(page), lambda: section_consensus(page), lambda: section_deer(page),
        lambda: section_figures(page, curves, apo), lambda: section_examples(page, examples, example_notes),
        lambda: section_benchmarks(page), lambda: section_run(page),
    ]
    for build in builders:
        build()
    when = (generated or _dt.datetime.now(_dt.timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")
    banner = ""
    if c.synthetic:
        banner = ('<div class="banner"><strong>SYNTHETIC</strong> — every number, figure and example in this report '
                  "comes from driftalign's synthetic chest X-ray world and its simulated teachers "
                  f"({esc(c.synthetic_source)}). They show that the pipeline works; they are not clinical results.</div>")
    dataset = f" · dataset {code(str(c.dataset))}" if c.dataset else ""
    head = (f'<header class="top"><h1>driftalign report</h1><p class="meta">run {code(str(c.run_dir.resolve()))}'
            f"{dataset} · generated {esc(when)} · driftalign {esc(__version__)}</p></header>")
    lead = headline(c)
    lead = f'<div class="headline">{lead}</div>' if lead else ""
    toc = '<nav class="toc">' + "".join(f'<a href="#{sid}">{esc(title)}</a>' for sid, title, _ in page.sections) + "</nav>"
    body = "".join(f'<section id="{sid}"><h2>{esc(title)}</h2>{content}</section>' for sid, title, content in page.sections)
    title = f"driftalign report — {c.run_dir.resolve().name}" + (" (SYNTHETIC)" if c.synthetic else "")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{esc(title)}</title>"
            f"<style>{CSS}</style></head><body>{banner}<div class=\"page\">{head}{lead}{toc}{body}"
            f"<footer>driftalign {esc(__version__)} · one self-contained file: no script, no external resource"
            "</footer></div></body></html>\n")
