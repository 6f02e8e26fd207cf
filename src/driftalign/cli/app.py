"""The `driftalign` entry point: one command per pipeline stage.

Every stage module contributes its command(s) through `commands()`; this file only lists them.
Errors of type `DriftalignError` (bad input, bad config) print one clear line and exit with 2.
"""

from __future__ import annotations

import importlib
import sys

import click

from driftalign import __version__
from driftalign.errors import DriftalignError

# Stage command modules, in pipeline order. Each exposes `commands() -> list[click.Command]`.
COMMAND_MODULES: list[str] = [
    "driftalign.cli.data_commands",
    "driftalign.cli.synth_commands",
    "driftalign.cli.teacher_sim_commands",
    "driftalign.cli.student_commands",
    "driftalign.cli.teacher_commands",
    "driftalign.cli.drift_commands",
    "driftalign.cli.apo_commands",
    "driftalign.cli.eval_commands",
]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="driftalign")
def cli() -> None:
    """driftalign: distil a vision-language student from several drifting teachers (APO),
    then fine-tune it with clinically weighted RL (DEER). All data here is synthetic unless
    you point it at your own dataset directory."""


for _module in COMMAND_MODULES:
    for _cmd in importlib.import_module(_module).commands():
        cli.add_command(_cmd)


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="driftalign", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except DriftalignError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
