"""`seeds: [0, 1, 2]` in a pipeline file: the whole pipeline once per seed, then one table.

Each seed runs under OUT/seed-N with every `seed` key of the file set to N (world, student, every
training run, ddsample) — new world, new teachers' answers, new initialisation: the spread over
seeds is the spread a user would see. Then, over the seeds:

* every student's metrics as mean ± std (ddof 1) -> OUT/experiment.json, OUT/experiment.md;
* the inherited gap per finding (oracle - spd) when both were trained;
* with GRPO runs, DEER's Table 1 and Table 7 layouts (`deer_tables`) -> the same files;
* each verdict of the per-seed summaries (APO vs SPD, GRPO vs its start) as a paired bootstrap
  pooled over the seeds (each seed's world a stratum, `metrics.bootstrap.paired_bootstrap`), and
  per seed.

Every seed directory is an ordinary run (its own summary and stage states), so adding a seed
reruns only that seed, and changing a section reruns what it changes in every seed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from driftalign.constants import MSCXRT_FINDINGS
from driftalign.data.io import atomic_write, write_json
from driftalign.pipeline.config import PipelineConfig, validate_pipeline
from driftalign.pipeline.criterion import check, describe
from driftalign.pipeline.criterion import markdown as criterion_markdown
from driftalign.metrics.aggregate import mean_std
from driftalign.pipeline.deer_tables import comparisons, deer_tables
from driftalign.pipeline.deer_tables import markdown as deer_markdown
from driftalign.pipeline.runner import prepare_out, run_single
from driftalign.pipeline.stages import plan
from driftalign.pipeline.summary import cell

COLUMNS = [*MSCXRT_FINDINGS.values(), "Avg.", "clin. F1", "words", "invented/100", "drift err/100"]
ONE_DECIMAL = {"words", "invented/100", "drift err/100"}   # per report / per 100 reports: printed with one decimal


def with_seed(cfg: PipelineConfig, seed: int) -> PipelineConfig:
    """`cfg` for one seed: out = OUT/seed-N, every `seed` key = N (consensus: where it draws), no seeds list, no
    report of its own."""
    values = cfg.model_dump()
    values.update(out=cfg.out / f"seed-{seed}", seeds=None, report=False)
    for key in ("world", "student", "spd", "oracle", "ddsample"):
        if values.get(key) is not None:
            values[key]["seed"] = seed
    for key in ("spd_runs", "apo", "grpo"):
        for section in (values.get(key) or {}).values():
            section["seed"] = seed
    for section in _drawing_consensus(values.get("consensus")):
        section["seed"] = seed
    return validate_pipeline(values, cfg.source)


def _drawing_consensus(consensus: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The consensus sections that draw at random (self-select's samples, a --max-studies subset: the same
    seed as APO's, so both take the same studies); the others have no seed to set (their hashes stay)."""
    if not consensus:
        return []
    sections = list(consensus.values()) if all(isinstance(v, dict) for v in consensus.values()) else [consensus]
    return [s for s in sections if s.get("strategy") == "self-select" or s.get("max_studies") is not None]


def _cells(row: dict[str, Any]) -> list[float | None]:
    acc = row["accuracy"]
    return [*(acc.get(name) for name in MSCXRT_FINDINGS), acc.get("average"), row["clinical_f1"], row.get("words"),
            row["drift_errors"].get("invented"), row["drift_errors"].get("total")]


def aggregate(summaries: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Mean ± std over seeds of every student's cells (students in first-seen order)."""
    names: list[str] = []
    for summary in summaries.values():
        names += [n for n in summary["students"] if n not in names]
    students = {}
    for name in names:
        rows = [s["students"][name] for s in summaries.values() if name in s["students"]]
        per_column = list(zip(*(_cells(r) for r in rows)))
        students[name] = {"seeds": len(rows), **{c: mean_std(list(v)) for c, v in zip(COLUMNS, per_column)}}
    gap = {}
    if "oracle" in names and "spd" in names:
        for j, col in enumerate(COLUMNS[:len(MSCXRT_FINDINGS) + 1]):
            diffs = [_cells(s["students"]["oracle"])[j] - _cells(s["students"]["spd"])[j] for s in summaries.values()
                     if {"oracle", "spd"} <= s["students"].keys()
                     and None not in (_cells(s["students"]["oracle"])[j], _cells(s["students"]["spd"])[j])]
            gap[col] = float(np.mean(diffs)) if diffs else None
    return {"students": students, "inherited_gap": gap}


def pooled_verdict(out: Path, cfg: PipelineConfig, run: str, baseline: str, seeds: list[int]) -> dict[str, Any]:
    """Paired bootstrap of (run - baseline), pooled over `seeds` (each seed's test split a stratum)."""
    from driftalign.metrics.bootstrap import paired_bootstrap
    from driftalign.pipeline.summary import beat_baseline, outcomes

    assert cfg.eval is not None
    pairs = []
    for seed in seeds:
        root = out / f"seed-{seed}"
        data = cfg.data.resolve() if cfg.data is not None else root / "world"
        pairs.append((outcomes(root, data, cfg.eval.split, run), outcomes(root, data, cfg.eval.split, baseline)))
    ci = paired_bootstrap(pairs, n_boot=cfg.eval.bootstrap, seed=0)
    return {"run": run, "baseline": baseline, "seeds": seeds, "beat_baseline": beat_baseline(ci), **ci}


def pooled_verdicts(out: Path, cfg: PipelineConfig, summaries: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """Each (run, baseline) of the per-seed verdicts, bootstrapped pooled over the seeds that have it."""
    pairs_of: dict[tuple[str, str], list[int]] = {}
    for seed, summary in summaries.items():
        for v in summary["verdicts"]:
            pairs_of.setdefault((v["run"], v["baseline"]), []).append(seed)
    return [pooled_verdict(out, cfg, run, baseline, seeds) for (run, baseline), seeds in pairs_of.items()]


def deer_comparisons(out: Path, cfg: PipelineConfig, summaries: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """DEER's ablations between the RL runs of `cfg` (`deer_tables.comparisons`), pooled over the seeds that have
    both."""
    found = []
    for run, baseline in comparisons(cfg.grpo):
        seeds = [seed for seed, summary in summaries.items() if {run, baseline} <= summary["students"].keys()]
        if seeds:
            found.append(pooled_verdict(out, cfg, run, baseline, seeds))
    return found


def _verdict_rows(verdicts: list[dict[str, Any]]) -> list[str]:
    lines = ["| comparison | seeds | Δ avg. accuracy | Δ clinical F1 | Δ drift err/100 | better? |\n",
             "|---|---|---|---|---|---|\n"]
    for v in verdicts:
        cells = [f"{v[m]['diff']:+.3f} [{v[m]['lo']:+.3f}, {v[m]['hi']:+.3f}]" for m in ("avg_accuracy", "clinical_f1")]
        d = v["drift_errors_per_100"]
        cells.append(f"{d['diff']:+.1f} [{d['lo']:+.1f}, {d['hi']:+.1f}]")
        lines.append(f"| {v['run']} − {v['baseline']} | {','.join(map(str, v['seeds']))} | " + " | ".join(cells)
                     + f" | {'yes' if v['beat_baseline'] else 'no'} |\n")
    return lines


def markdown(table: dict[str, Any]) -> str:
    seeds = ", ".join(str(s) for s in table["seeds"])
    where = "SYNTHETIC" if table["synthetic"] else "user data"
    lines = [f"## Students ({where}; {table['split']} split; mean ± std over seeds {seeds})\n\n",
             "Balanced top-1 accuracy per MS-CXR-T finding (chance 0.5), example-based clinical F1, mean words per "
             "generated report, invented findings and all drift errors the student inherited per 100 reports.\n\n",
             "| student | " + " | ".join(COLUMNS) + " |\n", "|---|" + "---|" * len(COLUMNS) + "\n"]
    for name, row in table["students"].items():
        lines.append(f"| {name} | " + " | ".join(cell(row.get(c, [None, None]), 1 if c in ONE_DECIMAL else 3) for c in COLUMNS)
                     + " |\n")
    if table["inherited_gap"]:
        cols = list(table["inherited_gap"])
        lines += ["\n## Inherited loss per finding (oracle − spd; mean over seeds)\n\n",
                  "| | " + " | ".join(cols) + " |\n", "|---|" + "---|" * len(cols) + "\n",
                  "| gap | " + " | ".join("-" if table["inherited_gap"][c] is None else f"{table['inherited_gap'][c]:+.3f}"
                                       for c in cols) + " |\n"]
    if table["verdicts"]:
        lines += [f"\n## Paired bootstrap 95% CI, pooled over seeds ({where})\n\n", *_verdict_rows(table["verdicts"])]
    if table.get("deer"):
        lines.append(deer_markdown(table["deer"]))
    if table.get("deer", {}).get("comparisons"):
        lines += [f"\n## DEER's ablations: paired bootstrap 95% CI, pooled over seeds ({where})\n\n",
                  "Token weights at 100% of the data (vs GRPO), DDSampling 20% vs all data (same weights), "
                  "DEER vs GRPO on a random 20%.\n\n", *_verdict_rows(table["deer"]["comparisons"])]
    if table.get("success"):
        lines.append(criterion_markdown(table["success"]))
    return "".join(lines)


def run_experiment(cfg: PipelineConfig, console: Console | None = None) -> dict[str, Any]:
    """Run the pipeline for every seed of `cfg.seeds`, then aggregate (module docstring)."""
    from driftalign.console import table_console

    assert cfg.seeds
    for seed in cfg.seeds:                  # every seed's stage configs validated before anything runs
        plan(with_seed(cfg, seed))
    console = console or table_console()
    out = cfg.out.resolve()
    prepare_out(out)
    summaries = {}
    for seed in cfg.seeds:
        console.rule(f"seed {seed}")
        summaries[seed] = run_single(with_seed(cfg, seed), console)
    table = {"seeds": list(cfg.seeds), "split": cfg.eval.split if cfg.eval else None,
             "synthetic": any(s["synthetic"] for s in summaries.values()), **aggregate(summaries),
             "verdicts": pooled_verdicts(out, cfg, summaries) if cfg.eval else []}
    deer = deer_tables(out, list(cfg.seeds), list(table["students"]))
    if deer:
        table["deer"] = {**deer, "comparisons": deer_comparisons(out, cfg, summaries) if cfg.eval else []}
    if cfg.success is not None:
        table["success"] = check(cfg.success, [*table["verdicts"], *table.get("deer", {}).get("comparisons", [])])
    write_json(out / "experiment.json", table)
    with atomic_write(out / "experiment.md") as f:
        f.write(markdown(table))
    print_experiment(table, console)
    console.print(f"table: {out / 'experiment.md'}", soft_wrap=True, highlight=False)
    if cfg.report:
        from driftalign.report import build_report

        console.print(f"report: {build_report(out)}", soft_wrap=True, highlight=False)
    return table


def print_experiment(table: dict[str, Any], console: Console) -> None:
    where = "SYNTHETIC world" if table["synthetic"] else "user data"
    rich_table = Table(title=f"driftalign — {where}, {table['split']} split, mean ± std over seeds "
                             f"{', '.join(map(str, table['seeds']))}")
    rich_table.add_column("student", no_wrap=True)
    for col in COLUMNS:
        rich_table.add_column(col, justify="right")
    for name, row in table["students"].items():
        rich_table.add_row(name, *(cell(row.get(c, [None, None]), 1 if c in ONE_DECIMAL else 3) for c in COLUMNS))
    console.print(rich_table)
    if table.get("deer"):
        from driftalign.pipeline.deer_tables import TABLE1, TABLE7

        deer = Table(title="DEER Table 1 / Table 7 layouts (CE micro over 14 observations; zero-std = share of reward "
                           "groups with equal rewards, phase 1)")
        deer.add_column("student", no_wrap=True)
        for col in [*TABLE1, "zero-std, phase 1"]:
            deer.add_column(col, justify="right")
        for name, row in table["deer"]["table1"].items():
            zero = table["deer"]["table7"].get(name, {}).get(TABLE7[0], [None, None])
            deer.add_row(name, *(cell(row[c]) for c in TABLE1), cell(zero))
        console.print(deer)
    for v in [*table["verdicts"], *table.get("deer", {}).get("comparisons", [])]:
        a, e = v["avg_accuracy"], v["drift_errors_per_100"]
        console.print(f"[bold]{v['run']} beat {v['baseline']} (pooled over seeds {v['seeds']}): "
                      f"{'yes' if v['beat_baseline'] else 'no'}[/bold] (Δ avg. accuracy {a['diff']:+.3f} "
                      f"[{a['lo']:+.3f}, {a['hi']:+.3f}], Δ drift errors/100 {e['diff']:+.1f} [{e['lo']:+.1f}, {e['hi']:+.1f}])")
    if table.get("success"):
        console.print(f"[bold]pre-registered success criterion, pooled over seeds {table['seeds']}:[/bold] "
                      f"{describe(table['success'])}", highlight=False)
