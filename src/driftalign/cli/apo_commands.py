"""APO commands: `consensus` (t+ per study) and `apo` (multi-negative preference training)."""

from __future__ import annotations

import click

from driftalign.cli.options import config_command
from driftalign.consensus.run import ConsensusConfig, run_consensus
from driftalign.training.apo import APOConfig


def _consensus(cfg: ConsensusConfig) -> None:
    summary = run_consensus(cfg)
    click.echo(summary.line())
    q = summary.quality
    if q:
        label = " (synthetic)" if summary.rows and _synthetic(cfg) else ""
        click.echo(f"label F1{label}: consensus {q['consensus']['f1']:.3f}; teachers "
                   + ", ".join(f"{t} {v['f1']:.3f}" for t, v in q["teachers"].items()))


def _synthetic(cfg: ConsensusConfig) -> bool:
    import json

    from driftalign.consensus.run import summary_path

    return bool(json.loads(summary_path(cfg.out).read_text(encoding="utf-8")).get("synthetic"))


def _apo(cfg: APOConfig) -> None:
    from driftalign.training.apo import run_apo

    click.echo(run_apo(cfg).line())


def commands() -> list[click.Command]:
    return [
        config_command("consensus", ConsensusConfig, _consensus,
                       "Synthesise a consensus trajectory t+ per study (model | vote | hybrid) -> CONSENSUS.jsonl."),
        config_command("apo", APOConfig, _apo,
                       "APO: push t+ up and every drifting teacher trajectory down vs the SPD reference."),
    ]
