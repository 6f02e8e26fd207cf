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
            msgs = []
            for err in e.errors():
                loc = ".".join(str(x) for x in err["loc"]) or "config"
                msgs.append(f"--{loc.replace('_', '-')}: {err['msg'].removeprefix('Value error, ')}")
            raise ConfigError("invalid configuration: " + "; ".join(msgs)) from None


def save_config(config: BaseModel, run_dir: str | Path, name: str = "driftalign_config.yaml") -> Path:
    """Write the resolved config as YAML into the run directory (atomically)."""
    path = Path(run_dir) / name
    with atomic_write(path) as f:
        yaml.safe_dump(config.model_dump(mode="json"), f, sort_keys=False)
    return path
