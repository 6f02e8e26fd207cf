"""DEER's tables from a multi-seed run directory: Table 1 (report quality) and Table 7 (zero-variance groups).

Read from the files the stages wrote, never recomputed from a model:

* **Table 1** — per student (the SFT and every GRPO / DiTPO run): CE precision / recall / F1
  (micro over the 14 observations, positive = 1, `eval`'s `clinical.micro`: the CheXbert-based
  convention of report-generation papers), BLEU-4, METEOR, ROUGE-L, and our example-based clinical
  F1 — mean ± std (ddof 1) over seeds, from OUT/seed-N/eval/NAME.json.
* **Table 7** — per GRPO run: the share of its reward groups whose G rewards were all equal (no
  advantage, no gradient), TRL's `frac_reward_zero_std`, averaged over the logged steps of phase 1
  (reward = F1 only, as DEER's table) and over all steps, from OUT/seed-N/NAME/trainer_log.jsonl;
  and, label-free and before any RL, the share of the run's training studies whose K DDSampling
  samples of the SFT model all carried the same labels (D = 0: every such sample gets the same F1),
  from OUT/seed-N/<ddsample>/diversity.jsonl and the run's own training studies
  (`training.grpo.grpo_studies` on the run's saved config: the same draw the run made).

Both tables carry their column headers (`columns`), so a reader (the HTML report) needs no copy of them.
DEER's ablations between RL runs (`comparisons`) are found by what each `grpo:` run of the pipeline
does (its token weights and its data), not by its name: a renamed run keeps its comparisons.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from driftalign.data.dataset import Dataset, load_dataset
from driftalign.data.io import read_jsonl
from driftalign.metrics.aggregate import mean_std
from driftalign.pipeline.summary import cell
from driftalign.training.grpo import DiTPOConfig, grpo_studies

TABLE1 = {"CE P": ("clinical", "micro", "precision"), "CE R": ("clinical", "micro", "recall"),
          "CE F1": ("clinical", "micro", "f1"), "BLEU-4": ("nlg", "BLEU-4"), "METEOR": ("nlg", "METEOR"),
          "ROUGE-L": ("nlg", "ROUGE-L"), "clin. F1 (ex.)": ("clinical", "example_based", "f1")}
TABLE7 = ("zero-std groups, phase 1", "zero-std groups, all steps", "D = 0 studies (SFT, before RL)")
PLAIN = "none"                                    # token_weights of plain GRPO (one advantage per completion)


def _design(section: dict[str, Any]) -> tuple[Any, str, str]:
    """(the model it starts from, its token weights, its data: "all" | "subset" | "random") of a `grpo:` run."""
    data = "subset" if section.get("subset") else "random" if section.get("random_fraction") else "all"
    weights = section.get("token_weights", DiTPOConfig.model_fields["token_weights"].default)
    return section.get("from"), str(weights), data


def comparisons(grpo: dict[str, dict[str, Any]] | None) -> list[tuple[str, str]]:
    """DEER's ablations between the `grpo:` runs of a pipeline, as (run, baseline), each run against the first run
    of the same start model that differs from it in one respect: token weights on all the data against plain GRPO
    on all the data; the DDSampling subset against all the data (same token weights); then DEER (token weights on
    the subset) against plain GRPO on a random share (`random_fraction`)."""
    runs = {name: _design(section) for name, section in (grpo or {}).items()}

    def first(start: Any, weights: str, data: str) -> str | None:
        return next((n for n, d in runs.items() if d == (start, weights, data)), None)

    found = [(n, first(s, PLAIN, "all")) for n, (s, w, data) in runs.items() if data == "all" and w != PLAIN]
    found += [(n, first(s, w, "all")) for n, (s, w, data) in runs.items() if data == "subset"]
    found += [(n, first(s, PLAIN, "random")) for n, (s, w, data) in runs.items() if data == "subset" and w != PLAIN]
    return [(run, baseline) for run, baseline in found if baseline is not None]


def _dig(obj: Any, path: tuple[str, ...]) -> float | None:
    for key in path:
        if not isinstance(obj, dict) or obj.get(key) is None:
            return None
        obj = obj[key]
    return float(obj)


def _seed_dirs(out: Path, seeds: list[int]) -> dict[int, Path]:
    return {s: out / f"seed-{s}" for s in seeds if (out / f"seed-{s}").is_dir()}


def _grpo_runs(root: Path) -> list[Path]:
    """GRPO output directories of one seed (those with grpo_data.json), in name order."""
    return sorted(p.parent for p in root.glob("*/grpo_data.json"))


def zero_std_shares(trainer_log: Path, switch_step: int) -> tuple[float | None, float | None]:
    """Mean `frac_reward_zero_std` over the logged training steps <= switch_step, and over all of them."""
    phase1, every = [], []
    for _, row in read_jsonl(trainer_log) if trainer_log.is_file() else []:
        if "frac_reward_zero_std" not in row:
            continue
        every.append(float(row["frac_reward_zero_std"]))
        if row.get("step", 0) <= switch_step:
            phase1.append(float(row["frac_reward_zero_std"]))
    return (float(np.mean(phase1)) if phase1 else None), (float(np.mean(every)) if every else None)


def zero_diversity_share(cfg: DiTPOConfig, dataset: Dataset, diversity: dict[str, float]) -> float | None:
    """Share of a GRPO run's training studies (its config's own selection) with D = 0 in the SFT model's
    DDSampling samples."""
    studies, _ = grpo_studies(dataset, cfg.split, cfg.subset, cfg.random_fraction, cfg.seed)
    d = [diversity[s.study_id] for s in studies if s.study_id in diversity]
    return float(np.mean([x == 0.0 for x in d])) if d else None


def deer_tables(out: Path, seeds: list[int], students: list[str]) -> dict[str, Any] | None:
    """Table 1 (every student of `students`, in that order) and Table 7 (those that are GRPO runs) over
    the seeds of OUT; None when no seed has a GRPO run."""
    roots = _seed_dirs(out, seeds)
    if not any(_grpo_runs(root) for root in roots.values()):
        return None
    names = list(students)
    table1: dict[str, dict[str, Any]] = {}
    for name in names:
        metrics = [json.loads(p.read_text()) for p in (root / "eval" / f"{name}.json" for root in roots.values())
                   if p.is_file()]
        if metrics:
            table1[name] = {"seeds": len(metrics), **{col: mean_std([_dig(m, path) for m in metrics])
                                                      for col, path in TABLE1.items()}}
    per_seed: dict[str, dict[str, list[float | None]]] = {}
    for root in roots.values():
        diversity = {}
        for dds in root.glob("*/diversity.jsonl"):
            diversity = {row["study_id"]: float(row["D"]) for _, row in read_jsonl(dds)}
        datasets: dict[Path, Dataset] = {}                          # every run of a seed reads the same world
        for run_dir in _grpo_runs(root):
            cfg = DiTPOConfig.load(run_dir / "driftalign_config.yaml")
            phase1, every = zero_std_shares(run_dir / "trainer_log.jsonl", cfg.switch_step)
            cells = per_seed.setdefault(run_dir.name, {c: [] for c in TABLE7})
            cells[TABLE7[0]].append(phase1)
            cells[TABLE7[1]].append(every)
            if diversity and cfg.data not in datasets:
                datasets[cfg.data] = load_dataset(cfg.data, with_trajectories=False, verify_images=False)
            cells[TABLE7[2]].append(zero_diversity_share(cfg, datasets[cfg.data], diversity) if diversity else None)
    table7 = {name: {"seeds": len(per_seed[name][TABLE7[0]]),
                     **{c: mean_std(v) for c, v in per_seed[name].items()}}
              for name in [*names, *sorted(per_seed)] if name in per_seed}
    return {"seeds": sorted(roots), "columns": {"table1": list(TABLE1), "table7": list(TABLE7)}, "table1": table1,
            "table7": table7}


def markdown(tables: dict[str, Any]) -> str:
    seeds = ", ".join(map(str, tables["seeds"]))
    lines = [f"\n## DEER Table 1 layout (SYNTHETIC; mean ± std over seeds {seeds})\n\n",
             "CE = micro P/R/F1 over the 14 observations (positive = 1); NLG against the reference report.\n\n",
             "| student | " + " | ".join(TABLE1) + " |\n", "|---|" + "---|" * len(TABLE1) + "\n"]
    for name, row in tables["table1"].items():
        lines.append(f"| {name} | " + " | ".join(cell(row[c]) for c in TABLE1) + " |\n")
    lines += [f"\n## DEER Table 7 layout: groups with no learning signal (SYNTHETIC; seeds {seeds})\n\n",
              "Share of reward groups whose G rewards were all equal (TRL's `frac_reward_zero_std`, mean over "
              "logged steps); and the share of the run's training studies whose K DDSampling samples of the SFT "
              "model all had the same labels (D = 0).\n\n",
              "| run | " + " | ".join(TABLE7) + " |\n", "|---|" + "---|" * len(TABLE7) + "\n"]
    for name, row in tables["table7"].items():
        lines.append(f"| {name} | " + " | ".join(cell(row[c]) for c in TABLE7) + " |\n")
    return "".join(lines)
