"""`driftalign run PIPELINE.yaml` and `driftalign demo` (the orchestrator is `driftalign.pipeline`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import yaml

from driftalign.cli.options import config_command
from driftalign.errors import ConfigError


def _overrides(pairs: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {pair!r}: expected SECTION.KEY=VALUE, e.g. --set spd.max_steps=100")
        try:
            out[key.strip()] = yaml.safe_load(value)   # typed like the YAML file: 100 -> int, true -> bool
        except yaml.YAMLError as e:
            problem = getattr(e, "problem", None) or str(e).splitlines()[0]
            raise ConfigError(f"--set {pair}: not a YAML value ({problem})") from None
    return out


def _run(pipeline: Path, out: Path | None, sets: tuple[str, ...]) -> None:
    from driftalign.pipeline import load_pipeline, run_pipeline
    from driftalign.pipeline.config import bundled_pipeline

    if not pipeline.exists() and pipeline.suffix == "" and pipeline.parent == Path("."):
        pipeline = bundled_pipeline(pipeline.name)   # a bare name: a bundled pipeline (demo, apo_table5, apo_drift_select, apo_drift, deer, deer_cpu)
    overrides = _overrides(sets)
    if out is not None:
        overrides["out"] = str(out)
    run_pipeline(load_pipeline(pipeline, overrides))


def _demo(cfg) -> Any:
    from driftalign.pipeline.demo import run_demo

    return run_demo(cfg)


def commands() -> list[click.Command]:
    from driftalign.pipeline.demo import DemoConfig

    run = click.Command(
        name="run", callback=_run,
        params=[click.Argument(["pipeline"], type=click.Path(path_type=Path, dir_okay=False), metavar="PIPELINE"),
                click.Option(["--out"], type=click.Path(path_type=Path), default=None,
                             help="run directory (overrides the file's `out`)"),
                click.Option(["--set", "sets"], multiple=True, metavar="SECTION.KEY=VALUE",
                             help="override one value of the file, e.g. --set spd.max_steps=100 (repeatable); only "
                                  "sections and runs the file defines")],
        help="Run a pipeline file, or a bundled one by name (demo, apo_table5, apo_drift_select, apo_drift, deer, deer_cpu): world or data -> collect -> drift -> SPD -> consensus -> APO -> DDSampling -> "
             "GRPO -> eval -> report). A stage whose resolved config is unchanged since its last run is skipped; "
             "an interrupted one resumes.",
        short_help="Run a pipeline file; unchanged stages are skipped, interrupted ones resume.")
    demo = config_command("demo", DemoConfig, _demo,
                          "Run the bundled demo pipeline on a fresh SYNTHETIC world (synth, collect, drift, SPD, "
                          "consensus, APO, eval, report); flags override the bundled file.")
    return [run, demo]
