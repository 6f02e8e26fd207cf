"""`driftalign demo`: the whole pipeline on a fresh synthetic world (see driftalign/demo.py)."""

from __future__ import annotations

import click

from driftalign.cli.options import config_command
from driftalign.demo import DemoConfig, run_demo


def commands() -> list[click.Command]:
    return [config_command("demo", DemoConfig, run_demo,
                           "Run the whole pipeline on a fresh SYNTHETIC world (synth, collect, drift, SPD, "
                           "consensus, APO, eval).")]
