"""The report's sections as data: each builder reads `RunContents` and adds a `Section` of tables (typed rows of
typed cells), notes and folded tables to the `Page`; the template draws them (html.py, report.html.j2).

Tables follow the paper's layouts (teachers: Table 2; students: Table 5); the best value of a column is bold
(`Col.better`). A piece the run lacks becomes a note in its section, or a line under "Not in this run".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from driftalign.constants import CXR_MAX_PROMPT, MSCXRT_FINDINGS, UNHINTED_PROMPT
from driftalign.drift.errors import ERROR_KINDS, ERROR_LABELS
from driftalign.report.records import Experiment, RunContents, StudentEval
from driftalign.report.tables import (
    DASH,
    Bullets,
    Caption,
    Cell,
    Code,
    Col,
    Folded,
    Note,
    Rich,
    Row,
    Table,
    caption,
    ci_cell,
    code,
    finite,
    group_row,
    mean_of,
    note,
    num,
    pm_cell,
    signed,
    table,
    value_cell,
)

FINDING_SHORT = list(MSCXRT_FINDINGS.values())           # Con., PE, Pna., Pnx., Ede.
KIND_SHORT = {"invented": "invented", "wrong_side": "wrong side", "overgeneralisation": "over-gen.",
              "wrong_location": "wrong loc.", "sign": "sign"}
ACCURACY = "Top-1 accuracy (balanced)"
ERR_TITLE = "drift errors per 100 generated reports"


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    blocks: tuple[Any, ...]          # Table | Note | Folded | Bullets | html.Figures | html.Examples


@dataclass
class Page:
    """The sections built so far, and what the run lacks (listed under "Run details")."""

    c: RunContents
    sections: list[Section] = field(default_factory=list)
    absent: list[Rich] = field(default_factory=list)

    def add(self, sid: str, title: str, *blocks: Any) -> None:
        self.sections.append(Section(sid, title, tuple(blocks)))

    def lacks(self, *text: str | Code) -> None:
        self.absent.append(tuple(text))


# ---- students (Table 5) ----------------------------------------------------------------------------


def student_cell(s: StudentEval) -> Cell:
    """The model's label, its run name under it when they differ."""
    return Cell(s.label, sub=s.name if s.label != s.name else "")


def students_table(split: str, students: list[StudentEval]) -> Table:
    cols = [Col("model", num=False)]
    cols += [Col(short, ACCURACY, better="high", title=name) for name, short in MSCXRT_FINDINGS.items()]
    cols += [Col("Avg.", ACCURACY, better="high")]
    cols += [Col(h, "Clinical (example-based)", better="high") for h in ("P", "R", "F1")]
    cols += [Col("err/100", "Drift", better="low", title=ERR_TITLE)]
    rows = []
    for s in students:
        acc = s.metrics.get("accuracy", {})
        clin = (s.metrics.get("clinical") or {}).get("example_based", {})
        values = [*[acc.get(f) for f in MSCXRT_FINDINGS], acc.get("average"), clin.get("precision"),
                  clin.get("recall"), clin.get("f1")]
        err = (s.metrics.get("drift_errors") or {}).get("total")
        cells = (student_cell(s), *map(value_cell, values), value_cell(err, 1))
        rows.append(Row(cells, cls="ceiling" if s.oracle else "", ranked=not s.oracle))
    n = max((s.metrics.get("n", 0) for s in students), default=0)
    oracle = "; the oracle (italic) is the ceiling and is not ranked." if any(s.oracle for s in students) else "."
    return table(cols, rows, caption(
        f"Students — the paper's Table 5 layout ({split} split, n = {n}).",
        "Balanced top-1 accuracy per MS-CXR-T finding (chance 0.500), example-based clinical precision / recall / "
        "F1 of the labels of the generated reports, and the drift errors the reports inherited, per 100 reports. "
        "Best student value in bold" + oracle))


def inherited_gap(split: str, students: list[StudentEval]) -> Table | Note:
    """Oracle − student per finding; a note when there is no oracle."""
    oracle = next((s for s in students if s.oracle), None)
    if oracle is None:
        return note("No oracle run (SPD on the reference reports: ", code("driftalign spd --targets reference"),
                    ") in this directory: the ceiling row and the inherited loss (oracle − student) are not shown.")
    cols = [Col("oracle − model", num=False)] + [Col(sh) for sh in FINDING_SHORT] + [Col("Avg.")]
    oacc = oracle.metrics.get("accuracy", {})
    rows = []
    for s in students:
        if s.oracle:
            continue
        acc = s.metrics.get("accuracy", {})
        gaps = [oacc.get(k) - acc.get(k) if finite(oacc.get(k)) and finite(acc.get(k)) else None
                for k in [*MSCXRT_FINDINGS, "average"]]
        rows.append(Row((student_cell(s), *(Cell(signed(g), value=g) for g in gaps))))
    return table(cols, rows, caption(
        f"Inherited loss per finding ({split} split).",
        "Balanced accuracy of the oracle minus the student's: what learning from the teachers instead of the "
        "reference reports cost."))


def experiment_students(exp: Experiment) -> list[Table]:
    """The students of a multi-seed run (mean ± std over seeds) and the inherited gap (oracle − SPD)."""
    cols = [Col("model", num=False)] + [Col(sh, ACCURACY, better="high") for sh in FINDING_SHORT]
    cols += [Col("Avg.", ACCURACY, better="high"), Col("clin. F1", better="high"),
             Col("err/100", better="low", title=ERR_TITLE)]
    rows = [Row((Cell(r.label), *(pm_cell(a, seeds=r.seeds) for a in r.accuracy), pm_cell(r.clinical_f1, seeds=r.seeds),
                 pm_cell(r.drift_total, 1, r.seeds)), cls="ceiling" if r.oracle else "", ranked=not r.oracle)
            for r in exp.students]
    seeds = ", ".join(str(s) for s in exp.seeds) if exp.seeds else "?"
    tables = [table(cols, rows, caption(
        f"Students — the paper's Table 5 layout (test split; mean ± std over seeds {seeds}).",
        "Balanced top-1 accuracy per MS-CXR-T finding (chance 0.500), example-based clinical F1, drift errors "
        "per 100 generated reports. Best student value in bold; the oracle (italic) is the ceiling."))]
    gap = exp.inherited_gap
    if any(v is not None for v in gap.values()):   # {} when no oracle + SPD pair
        gcols = [Col("", num=False)] + [Col(sh) for sh in FINDING_SHORT] + [Col("Avg.")]
        gaps = (Cell(signed(gap.get(k))) for k in [*FINDING_SHORT, "Avg."])
        row = Row((Cell("oracle − SPD (all teachers)"), *gaps))
        tables.append(table(gcols, [row], caption(
            "Inherited loss per finding (mean over seeds).",
            "Oracle minus SPD on all teachers: what learning from the teachers cost.")))
    return tables


def section_students(page: Page) -> None:
    c = page.c
    if c.experiment is not None:
        page.add("students", "Students", *experiment_students(c.experiment))
        return
    groups = c.students_by_split()
    if not groups:
        page.add("students", "Students", note(
            "No evaluation found (", code("driftalign eval --json RUN/eval/NAME.json"), "): no student table."))
        return
    blocks: list[Table | Note] = []
    for split, students in groups.items():
        blocks += [students_table(split, students), inherited_gap(split, students)]
    page.add("students", "Students", *blocks)


# ---- teachers (Table 2) ----------------------------------------------------------------------------


def prompt_kind(dataset: Path | None) -> str:
    """Which prompt the teachers answered, from the dataset's first trajectory ("" when unknown)."""
    import json

    if dataset is None:
        return ""
    try:
        with (dataset / "trajectories.jsonl").open(encoding="utf-8") as f:
            prompt = json.loads(f.readline()).get("prompt", "")
    except (OSError, ValueError, AttributeError):
        return ""
    if prompt.startswith(CXR_MAX_PROMPT.split("{")[0]):
        return "hinted (CXR-MAX: the prompt names the diagnoses)"
    if prompt.startswith(UNHINTED_PROMPT.split("{")[0]):
        return "unhinted (the paper's Table 2 setting)"
    return ""


def teacher_row(name: str, m: dict[str, Any]) -> Row:
    acc = m.get("finding_accuracy", {})
    accs = [acc.get(f) for f in MSCXRT_FINDINGS]
    values = [*accs, mean_of(accs), m.get("precision"), m.get("recall"), m.get("f1"), m.get("similarity")]
    refusal = m.get("refusal_rate")
    err = (m.get("drift_errors") or {}).get("total")
    return Row((Cell(name), *map(value_cell, values),
                Cell(f"{100 * refusal:.1f}%" if finite(refusal) else DASH, value=refusal), value_cell(err, 1)))


def teachers_table(c: RunContents) -> Table:
    assert c.drift is not None
    rep = c.drift.report
    cols = [Col("teacher", num=False)] + [Col(sh, "Accuracy per finding", better="high", title=name)
                                          for name, sh in MSCXRT_FINDINGS.items()]
    cols += [Col("Avg.", "Accuracy per finding", better="high")]
    cols += [Col(h, "Findings vs reference", better="high") for h in ("P", "R", "F1")]
    cols += [Col("sim.", better="high", title="mean cosine similarity of trajectory and reference report"),
             Col("refusal", better="low", title="share of refused answers"),
             Col("err/100", better="low", title="drift errors per 100 trajectories")]
    rows = [teacher_row(name, rep["per_teacher"].get(name, {})) for name in rep.get("teachers", [])]
    gap = rep.get("accuracy_gap") or {}
    if gap:
        gaps = [gap.get(f) for f in MSCXRT_FINDINGS]
        rows.append(Row((Cell("gap (best − worst)"), *(Cell(num(g)) for g in gaps), Cell(num(mean_of(gaps))),
                         *(Cell() for _ in range(6))), cls="summary", ranked=False))
    prompt = prompt_kind(c.dataset)
    where = "" if c.drift.dir == c.run_dir / "drift" else f"{c.rel(c.drift.dir)}, "
    return table(cols, rows, caption(
        f"Teachers — the paper's Table 2 layout ({where}{rep.get('split')} split, {rep.get('n_studies')} studies, "
        f"{rep.get('n_trajectories')} trajectories).",
        "Accuracy per MS-CXR-T finding of the labels of each teacher's trajectories (all studies of the split, "
        "not balanced; uncertain labels left out), precision / recall / F1 of the findings they assert against "
        "the study labels, similarity to the reference report, refusal rate, drift errors per 100 trajectories."
        + (f" Prompt: {prompt}." if prompt else "")))


def section_teachers(page: Page) -> None:
    if page.c.drift is None:
        page.add("teachers", "Teachers", note("No ", code("drift/drift.json"), " (",
                                              code("driftalign drift DATA --out RUN/drift"), "): no teacher table."))
        return
    page.add("teachers", "Teachers", teachers_table(page.c))


# ---- inherited drift by kind -----------------------------------------------------------------------


def _student_error_rows(c: RunContents) -> list[Row]:
    rows: list[Row] = []
    if c.experiment is not None:
        if c.experiment.students:
            rows.append(group_row("Students: generated reports (mean ± std over seeds)"))
        for r in c.experiment.students:
            cells = [pm_cell(r.drift_by_kind.get(k), 1, r.seeds) for k in ERROR_KINDS]
            rows.append(Row((Cell(r.label), *cells, pm_cell(r.drift_total, 1, r.seeds)),
                            cls="ceiling" if r.oracle else "", ranked=not r.oracle))
        return rows
    for split, students in c.students_by_split().items():
        n = max((s.metrics.get("n", 0) for s in students), default=0)
        rows.append(group_row(f"Students: generated reports ({split} split, n = {n})"))
        for s in students:
            d = s.metrics.get("drift_errors") or {}
            rows.append(Row((student_cell(s), *(value_cell(d.get(k), 1) for k in (*ERROR_KINDS, "total"))),
                            cls="ceiling" if s.oracle else "", ranked=not s.oracle))
    return rows


def _teacher_error_rows(c: RunContents) -> list[Row]:
    if c.drift is None:
        return []
    rep = c.drift.report
    rows = [group_row(f"Teachers: trajectories ({rep.get('split')} split, {rep.get('n_studies')} studies)")]
    for name in rep.get("teachers", []):
        d = (rep["per_teacher"].get(name) or {}).get("drift_errors") or {}
        rows.append(Row((Cell(name), *(value_cell(d.get(k), 1) for k in (*ERROR_KINDS, "total"))), ranked=False))
    return rows


def section_drift_errors(page: Page) -> None:
    rows = _student_error_rows(page.c) + _teacher_error_rows(page.c)
    if not rows:
        page.lacks("drift errors by kind (needs an evaluation or drift/drift.json)")
        return
    cols = [Col("model", num=False)] + [Col(KIND_SHORT[k], better="low", title=ERROR_LABELS[k]) for k in ERROR_KINDS]
    cols += [Col("total", better="low")]
    page.add("drift-errors", "Inherited drift", table(cols, rows, caption(
        "Drift errors per 100 texts, by kind (the kinds of the APO paper's Fig. 1b).",
        "Invented finding, wrong side, over-generalisation (one side called bilateral), wrong location, sign "
        "inconsistency (an opacity called dark, a pneumothorax white), counted by ", code("drift.errors"),
        " against the study labels and reference report: for the students, the drift their reports inherited. "
        "Lowest student value in bold.")))


# ---- comparisons (paired bootstrap) ----------------------------------------------------------------


def section_comparisons(page: Page) -> None:
    c = page.c
    rows = [Row((Cell(f"{v.run} − {v.baseline}"), Cell(verdict="yes" if v.beat else "no"), ci_cell(v.avg_accuracy),
                 ci_cell(v.clinical_f1), ci_cell(v.drift_errors_per_100, 1))) for v in c.verdicts]
    if c.experiment is not None:
        rows += [Row((Cell(v.name), Cell(v.seeds), ci_cell(v.avg_accuracy), ci_cell(v.clinical_f1),
                      ci_cell(v.drift_errors_per_100, 1))) for v in c.experiment.comparisons]
    if not rows:
        return
    cols = [Col("comparison", num=False), Col("beat it?" if c.experiment is None else "seeds", num=False),
            Col("Δ avg. accuracy"), Col("Δ clinical F1"), Col("Δ drift err/100")]
    page.add("comparisons", "Method vs baseline", table(cols, rows, caption(
        "Each method against its baseline: paired bootstrap, 95% confidence intervals.",
        "Differences on the same test studies (method − baseline), resampled by study. “beat it”: the accuracy "
        "CI is above 0 or the drift-error CI below 0, and neither is significantly worse.")))


# ---- consensus ---------------------------------------------------------------------------------------


def _consensus_row(name: str, d: dict[str, Any], cls: str = "") -> Row:
    acc = d.get("accuracy") or {}
    values = [*[acc.get(f) for f in MSCXRT_FINDINGS], acc.get("average"), d.get("precision"), d.get("recall"),
              d.get("f1")]
    return Row((Cell(name), *map(value_cell, values)), cls=cls)


def section_consensus(page: Page) -> None:
    """t+ of each consensus file against the teachers (a multi-seed run has one per seed: none is shown)."""
    c = page.c
    tables = []
    for cons in [] if c.experiment is not None else c.consensus:
        q = cons.summary.get("quality") or {}
        if not q:
            continue
        cols = [Col("", num=False)] + [Col(sh, "Accuracy per finding", better="high") for sh in FINDING_SHORT]
        cols += [Col("Avg.", "Accuracy per finding", better="high")]
        cols += [Col(h, "Labels vs study", better="high") for h in ("P", "R", "F1")]
        rows = [_consensus_row(f"consensus t+ ({cons.strategy})", q.get("consensus") or {}, "highlight")]
        rows += [_consensus_row(t, d) for t, d in sorted((q.get("teachers") or {}).items())]
        tables.append(table(cols, rows, caption(
            f"Consensus t+ against the teachers ({c.rel(cons.path)}, {cons.summary.get('rows')} studies).",
            "Labels of t+ and of each teacher's trajectory against the study labels, on the studies the consensus "
            "covers (the train split by default).")))
    if tables:
        page.add("consensus", "Consensus t+", *tables)


# ---- DEER ---------------------------------------------------------------------------------------------


def ddsample_table(c: RunContents) -> Table:
    cols = [Col("output", num=False), Col("split", num=False), Col("studies"), Col("K"), Col("subset"),
            Col("mean D (all)"), Col("mean D (subset)"), Col("seed"), Col("uncertain", num=False)]
    rows = []
    for d in c.ddsample:
        s = d.summary
        rows.append(Row((Cell(c.rel(d.dir)), Cell(str(s.get("split", "?"))), Cell(str(s.get("studies"))),
                         Cell(str(s.get("k", DASH))), Cell(str(s.get("subset"))), Cell(num(s.get("mean_d_all"))),
                         Cell(num(s.get("mean_d_subset"))), Cell(str(s.get("seed", DASH))),
                         Cell(str(s.get("uncertain", DASH))))))
    return table(cols, rows, caption(
        "DDSampling: the RL subset (DEER eq. 3-5).",
        "D = diagnostic diversity of a study (sum over the 14 labels of their standard deviation over K samples); "
        "the subset is drawn by rank with P ∝ 1 / log(rank + 1)."))


def _grpo_row(c: RunContents, g: Any) -> Row:
    logged = [r for r in g.log if "train_runtime" not in r]
    rewards = [r["reward"] for r in logged if finite(r.get("reward"))]
    last = logged[-1] if logged else {}
    weights = (g.config or {}).get("token_weights")
    method = "GRPO" if weights == "none" else (f"DiTPO ({weights})" if weights else "GRPO / DiTPO")
    tp, total = g.data.get("trainable_parameters"), g.data.get("parameters")
    params = f"{tp:,} / {total:,}" if isinstance(tp, int) and isinstance(total, int) else DASH
    subset = Path(str(g.data["subset"])).name if g.data.get("subset") else "all"
    reward = f"{num(rewards[0])} → {num(rewards[-1])}" if rewards else DASH
    return Row((Cell(c.rel(g.dir)), Cell(method), Cell(str(g.data.get("studies", DASH))), Cell(subset), Cell(params),
                Cell(str(last.get("step", DASH))), Cell(reward), Cell(num(last.get("reward/f1"))),
                Cell(num(last.get("reward/gamma"), 2))))


def grpo_table(c: RunContents) -> Table:
    cols = [Col("output", num=False), Col("method", num=False), Col("studies"), Col("subset", num=False),
            Col("trainable / total params", num=False), Col("steps"), Col("reward (first → last)", num=False),
            Col("reward F1 (last)"), Col("γ (last)")]
    return table(cols, [_grpo_row(c, g) for g in c.grpo], caption(
        "GRPO / DiTPO training runs (DEER).",
        "Reward = label F1 of the completion against the reference + γ · BLEU-2 (γ = 0 in phase 1, 0.25 in "
        "phase 2); the trained model's test metrics are in the students' table when it was evaluated."))


def deer_layouts(exp: Experiment) -> list[Table]:
    """DEER's Table 1 and Table 7 layouts of a multi-seed run, with the headers the pipeline wrote."""
    deer = exp.deer
    if deer is None:
        return []
    seeds = ", ".join(map(str, deer.seeds))
    out = []
    for t, first, better, cap in (
            (deer.table1, "student", "high", caption(
                f"DEER Table 1 layout: report quality, mean ± std over seeds {seeds}.",
                "CE = micro precision / recall / F1 over the 14 observations (positive = 1); BLEU-4, METEOR, ROUGE-L "
                "against the reference report; example-based clinical F1.")),
            (deer.table7, "run", "low", caption(
                f"DEER Table 7 layout: groups with no learning signal, mean ± std over seeds {seeds}.",
                "Share of reward groups whose G rewards were all equal (TRL's frac_reward_zero_std, mean over logged "
                "steps; phase 1 = F1 reward only), and the share of the run's training studies whose K DDSampling "
                "samples of the SFT model had identical labels (D = 0)."))):
        cols = [Col(first, num=False), *(Col(h, better=better) for h in t.columns)]
        rows = [Row((Cell(r.name), *(pm_cell(p, seeds=r.seeds) for p in r.cells))) for r in t.rows]
        out.append(table(cols, rows, cap))
    return out


def section_deer(page: Page) -> None:
    c = page.c
    blocks = ([ddsample_table(c)] if c.ddsample else []) + ([grpo_table(c)] if c.grpo else [])
    if c.experiment is not None:
        blocks += deer_layouts(c.experiment)
    if blocks:
        page.add("deer", "DEER: DDSampling and GRPO", *blocks)
    else:
        page.lacks("DEER tables (no ", code("driftalign ddsample"), " or ", code("driftalign grpo"), " output)")


# ---- benchmarks ---------------------------------------------------------------------------------------


BENCH_FIRST = ("preset", "system", "N", "image_tokens")
BENCH_HEADS = {"image_tokens": "image tokens", "seconds": "loop (s)", "setup_s": "setup (s)",
               "studies_per_s": "studies/s", "peak_rss_mb": "peak RSS (MB)",
               "vision_images_per_study": "vision images / study", "token_positions_per_study": "token positions / study"}
RATIO = "ratio vs TRL"


def bench_cell(v: Any) -> Cell:
    if v is None:
        return Cell(DASH)
    if isinstance(v, bool):
        return Cell(str(v))
    if isinstance(v, int):
        return Cell(f"{v:,}")
    if isinstance(v, float):
        return Cell(num(v, 0 if abs(v) >= 100 else 2 if abs(v) >= 1 else 3))
    return Cell(str(v))


def benchmark_table(c: RunContents, path: Path, rows: tuple[dict[str, Any], ...]) -> Table:
    """The rows as the benchmark wrote them; with TRL rows, each row's throughput relative to TRL's."""
    keys: list[str] = [k for k in BENCH_FIRST if any(k in r for r in rows)]
    for r in rows:
        keys += [k for k in r if k not in keys]
    trl = {(r.get("preset"), r.get("N"), r.get("image_tokens")): r.get("studies_per_s")
           for r in rows if r.get("system") == "trl" and finite(r.get("studies_per_s"))}
    if trl and "studies_per_s" in keys:
        keys.insert(keys.index("studies_per_s") + 1, RATIO)

    def cell(r: dict[str, Any], k: str) -> Cell:
        if k != RATIO:
            return bench_cell(r.get(k))
        base, v = trl.get((r.get("preset"), r.get("N"), r.get("image_tokens"))), r.get("studies_per_s")
        return Cell(f"{v / base:.2f}×" if base and finite(v) else DASH)

    cols = [Col(BENCH_HEADS.get(k, k.replace("_", " ")), num=k not in ("preset", "system", "error")) for k in keys]
    return table(cols, [Row(tuple(cell(r, k) for k in keys)) for r in rows], caption(
        f"Benchmark: {c.rel(path)}.",
        "Rows as the benchmark wrote them (throughput and memory, measured on the benchmark's own generated "
        "inputs; not quality numbers)."))


def section_benchmarks(page: Page) -> None:
    c = page.c
    if not c.benchmarks:
        page.lacks("benchmark table (no bench_*.json)")
        return
    page.add("benchmarks", "Benchmarks", *(benchmark_table(c, b.path, b.rows) for b in c.benchmarks))


# ---- run details ----------------------------------------------------------------------------------------


def flat(items: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Nested config sections as dotted keys ("spd.max_steps"); lists as comma-separated values."""
    out = []
    for k, v in items.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out += flat(v, key + ".") if v else [(key, "{}")]
        elif isinstance(v, list):
            out.append((key, ", ".join(str(x) if not isinstance(x, dict) else
                                       "{" + ", ".join(f"{a}: {b}" for a, b in x.items()) + "}" for x in v)))
        else:
            out.append((key, str(v)))
    return out


def folded(title: str, items: dict[str, Any]) -> Folded:
    """A config as a folded option / value table."""
    rows = [Row((Cell(k), Cell(v))) for k, v in flat(items)]
    return Folded(title, table([Col("option", num=False), Col("value", num=False)], rows, Caption(title), cls="kv"))


def timings_table(timings: dict[str, Any]) -> Table:
    rows = [Row((Cell(k), Cell(num(v, 1)))) for k, v in timings.items()]
    rows.append(Row((Cell("total"), Cell(num(sum(v for v in timings.values() if finite(v)), 1))), cls="summary"))
    return table([Col("stage", num=False), Col("seconds")], rows, Caption("Stage timings."))


def section_run(page: Page) -> None:
    c = page.c
    blocks: list[Any] = [timings_table(c.timings)] if c.timings else []
    if c.run_config:
        blocks.append(folded("Run configuration.", c.run_config))
    if c.experiment is not None:
        blocks.append(folded("Experiment settings.", {"seeds": list(c.experiment.seeds), "split": c.experiment.split}))
    if c.notes:
        blocks.append(Bullets("Notes", tuple((n,) for n in c.notes)))
    if page.absent:
        blocks.append(Bullets("Not in this run", tuple(page.absent)))
    if blocks:
        page.add("run", "Run details", *blocks)
