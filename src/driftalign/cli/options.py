"""Build a click command whose flags are exactly the fields of a stage's pydantic config.

This is what keeps "config file key" == "CLI flag" == "config field" true by construction
(the TrlParser idea, for pydantic + click). A field becomes `--field-name`; a field marked
`json_schema_extra={"positional": True}` becomes a positional argument; a boolean field may name its
own on/off pair (`json_schema_extra={"flags": "--lora/--full"}`). Flags default to
"not given", so YAML values (from `--config`) are only overridden by flags the user typed.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import click
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from driftalign.config import StageConfig


def _unwrap_optional(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _click_type(annotation: Any) -> tuple[Any, bool]:
    """Return (click type, is_bool_flag) for a field annotation."""
    ann = _unwrap_optional(annotation)
    origin = typing.get_origin(ann)
    if ann is bool:
        return bool, True
    if origin is Literal:
        return click.Choice([str(a) for a in typing.get_args(ann)]), False
    if ann in (int, float, str):
        return ann, False
    if ann is Path:
        return click.Path(path_type=Path), False
    return str, False  # lists and other types are parsed by pydantic from a string (e.g. "a,b")


def _default_text(info: FieldInfo) -> str:
    if info.default is PydanticUndefined:
        return "required"
    return f"default: {info.default}"


def _param_for(name: str, info: FieldInfo) -> click.Parameter:
    ctype, is_flag = _click_type(info.annotation)
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    if extra.get("positional"):
        return click.Argument([name], type=ctype, required=info.default is PydanticUndefined)
    flag = name.replace("_", "-")
    help_text = f"{info.description or ''} [{_default_text(info)}]".strip()
    if is_flag:
        # a field may name its own on/off pair, e.g. json_schema_extra={"flags": "--lora/--full"}
        return click.Option([extra.get("flags", f"--{flag}/--no-{flag}"), name], default=None, help=help_text)
    return click.Option([f"--{flag}", name], type=ctype, default=None, help=help_text)


def _ordered_fields(config_cls: type[StageConfig]) -> list[tuple[str, FieldInfo]]:
    """The config's fields with the shared option groups (model loading, decoding) last in --help."""
    from driftalign.generation.sampling import SamplingOptions
    from driftalign.models.options import ModelOptions

    shared = set(ModelOptions.model_fields) | set(SamplingOptions.model_fields)
    items = list(config_cls.model_fields.items())
    return [i for i in items if i[0] not in shared] + [i for i in items if i[0] in shared]


def config_command(
    name: str,
    config_cls: type[StageConfig],
    run: Callable[[Any], Any],
    help: str,
) -> click.Command:
    """A click command: `--config FILE` plus one parameter per config field, then `run(config)`."""
    params: list[click.Parameter] = []
    for field_name, info in _ordered_fields(config_cls):
        params.append(_param_for(field_name, info))
    params.append(click.Option(["--config", "config_file"], type=click.Path(path_type=Path, exists=True, dir_okay=False),
                               default=None, help="YAML file with any of these options (flags override it)."))

    def callback(config_file: Path | None = None, **values: Any) -> Any:
        config = config_cls.load(config_file, **values)
        return run(config)

    return click.Command(name=name, params=params, callback=callback, help=help, short_help=help.split("\n")[0])
