"""The project's error types. Each carries enough context (file, line, study) to act on."""

from __future__ import annotations

import errno

# OSError errnos of a write that failed for want of space: the CLI prints "disk full while writing PATH"
DISK_FULL = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


class DriftalignError(Exception):
    """Base class: the CLI prints these as a one-line error instead of a traceback."""


class DatasetError(DriftalignError):
    """Bad input in a dataset directory or a JSONL file. The message names the file and line."""


class ConfigError(DriftalignError):
    """A config file or flag combination that cannot be used."""
