"""`python -m driftalign.teachers collect|serve-teachers ...`: the teacher commands alone.

The same click commands as `driftalign collect` / `driftalign serve-teachers`, without importing
the other stages (whose imports pull in torch); used by subprocess tests and handy on a machine that
only collects. Errors behave as in `driftalign`: one line on stderr, exit status 2.
"""

from __future__ import annotations

import sys

import click

from driftalign.cli.teacher_commands import commands
from driftalign.errors import DriftalignError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def teachers_cli() -> None:
    """driftalign teacher commands: collect trajectories, serve the simulated teachers."""


for _cmd in commands():
    teachers_cli.add_command(_cmd)


def main(argv: list[str] | None = None) -> None:
    try:
        teachers_cli.main(args=argv, prog_name="python -m driftalign.teachers", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except DriftalignError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
