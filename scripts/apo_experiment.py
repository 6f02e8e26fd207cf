#!/usr/bin/env python
"""APO experiment on one synthetic world (all numbers SYNTHETIC): teachers vs SPD vs SPD + APO.

    .venv/bin/python scripts/apo_experiment.py --out runs/apo_quick            # smoke test, ~12 min
    .venv/bin/python scripts/apo_experiment.py --out runs/apo_med --medium     # docs/apo.md numbers, ~25 min
    .venv/bin/python scripts/apo_experiment.py --out runs/apo_full --full      # all strategies, hours on CPU

Prints the paper's Table 2 (teachers) and Table 5 (students) layouts and the consensus quality,
and writes table.md / table.json into --out. Re-running resumes: finished stages are skipped.
"""

from __future__ import annotations

import os

import click

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@click.command()
@click.option("--out", "out_dir", required=True, type=click.Path(), help="experiment directory")
@click.option("--medium", is_flag=True, help="400 studies, SPD 3 epochs: the numbers in docs/apo.md (~25 min)")
@click.option("--full", is_flag=True, help="the fuller configuration (1000 studies, all strategies, more epochs)")
@click.option("--studies", type=int, default=None, help="override the number of studies")
@click.option("--apo-lr", type=float, default=None, help="override the APO learning rate")
@click.option("--beta", type=float, default=None, help="override beta")
@click.option("--spd-epochs", type=float, default=None, help="override the SPD epochs")
@click.option("--apo-epochs", type=float, default=None, help="override the APO epochs")
@click.option("--strategies", default=None, help="comma-separated consensus strategies (vote,model,hybrid)")
@click.option("--threads", type=int, default=2, help="torch threads")
def main(out_dir: str, medium: bool, full: bool, studies: int | None, apo_lr: float | None, beta: float | None,
         spd_epochs: float | None, apo_epochs: float | None, strategies: str | None, threads: int) -> None:
    import torch

    from driftalign.training.apo_experiment import ExperimentSettings, run_apo_experiment

    torch.set_num_threads(threads)
    given = {"studies": studies, "apo_lr": apo_lr, "beta": beta, "spd_epochs": spd_epochs, "apo_epochs": apo_epochs,
             "strategies": tuple(strategies.split(",")) if strategies else None}
    overrides = {k: v for k, v in given.items() if v is not None}
    preset = ExperimentSettings.full if full else ExperimentSettings.medium if medium else ExperimentSettings.quick
    settings = preset(**overrides)
    table = run_apo_experiment(out_dir, settings=settings)
    click.echo(table.markdown())


if __name__ == "__main__":
    main()
