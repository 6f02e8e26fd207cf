"""Stage configs: one pydantic model per stage, loaded from YAML + CLI flags, saved into the run.

A stage config maps 1:1 to its CLI flags (`driftalign.cli.options.config_command` builds the
flags from the fields) and to YAML keys (`--config FILE`). Precedence: field default < YAML < flag.
The resolved config is written next to the stage's outputs (`save_config`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from driftalign.data.io import atomic_write
from driftalign.errors import ConfigError

C = TypeVar("C", bound="StageConfig")


def read_yaml_mapping(path: str | Path, what: str, shape: str) -> dict[str, Any]:
    """The top-level mapping of a YAML file; a ConfigError naming the file when it is missing, not YAML,
    or not a mapping (`what`: "config file", ...; `shape`: what the mapping maps, for the message)."""
    path = Path(path)
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} not found") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML ({e})") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping of {shape} at the top level")
    return loaded


class StageConfig(BaseModel):
    """Base of every stage config. Unknown keys are errors (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    @classmethod
    def load(cls: type[C], yaml_path: str | Path | None = None, **overrides: Any) -> C:
        """Build the config from an optional YAML file and explicit overrides (None = not given)."""
        values: dict[str, Any] = {}
        if yaml_path is not None:
            loaded = read_yaml_mapping(yaml_path, "config file", "option -> value")
            values.update({k.replace("-", "_"): v for k, v in loaded.items()})
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(values)
        except ValidationError as e:
            raise ConfigError("invalid configuration: " + validation_message(e, flags=True)) from None


# pydantic error types whose message does not already show the rejected value
_SHOW_INPUT = {"extra_forbidden", "missing", "value_error", "assertion_error"}


def validation_message(e: ValidationError, prefix: str = "", flags: bool = False) -> str:
    """pydantic's errors on one line, `where: what` joined by "; " (no input dump, no URL): `where` is the
    dotted location after `prefix` ("spd." -> "spd.max_steps"), or `--the-flag` with `flags`; a rejected
    scalar is shown as "(got X)"."""
    msgs = []
    for err in e.errors():
        loc = ".".join(str(x) for x in err["loc"])
        where = f"--{loc.replace('_', '-')}" if flags and loc else (prefix + loc).rstrip(".") or "config"
        msg = err["msg"].removeprefix("Value error, ")
        value = err.get("input")
        if err["type"] not in _SHOW_INPUT and (value is None or isinstance(value, (str, int, float, bool))):
            msg += f" (got {value!r})"
        msgs.append(f"{where}: {msg}")
    return "; ".join(msgs)


CONFIG_FILE = "driftalign_config.yaml"   # the resolved config next to a stage's outputs


def save_config(config: BaseModel, run_dir: str | Path, name: str = CONFIG_FILE) -> Path:
    """Write the resolved config as YAML into the run directory (atomically)."""
    path = Path(run_dir) / name
    with atomic_write(path) as f:
        yaml.safe_dump(config.model_dump(mode="json"), f, sort_keys=False)
    return path
