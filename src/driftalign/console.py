"""The console driftalign prints its tables to.

A terminal gets its own width; a log file or a pipe (CI, `| tee`) gets a fixed wide one, since rich
would assume 80 columns there and squeeze or cut the tables' numbers and headers.
"""

from __future__ import annotations

import sys

from rich.console import Console


def table_console(width: int = 160) -> Console:
    """The terminal's console, or a `width`-column one when stdout is not a terminal."""
    return Console() if sys.stdout.isatty() else Console(width=width)
