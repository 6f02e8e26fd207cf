"""The `driftalign` entry point: one command per pipeline stage.

Each stage's command lives in its own `cli/<area>_commands.py` module exposing
`commands() -> list[click.Command]`. This file only maps command names to those modules, in
pipeline order, and imports a module when one of its commands is used (so `driftalign synth`
does not pay for importing torch). `driftalign --help` imports them all to list their help.
Errors of type `DriftalignError` (bad input, bad config), a config's validation error and a full disk
print one line, `error: <file or stage>: <what>`, and exit with 2; `driftalign --verbose` shows the
traceback instead.
"""

from __future__ import annotations

import errno
import importlib
import sys

import click

from driftalign import __version__
from driftalign.errors import DISK_FULL, DriftalignError

# command name -> module that defines it, in pipeline order.
COMMANDS: dict[str, str] = {
    "run": "driftalign.cli.pipeline_commands",
    "demo": "driftalign.cli.pipeline_commands",
    "validate": "driftalign.cli.data_commands",
    "import-swift": "driftalign.cli.data_commands",
    "synth": "driftalign.cli.synth_commands",
    "synth-calibration": "driftalign.cli.teacher_sim_commands",
    "serve-teachers": "driftalign.cli.teacher_commands",
    "collect": "driftalign.cli.teacher_commands",
    "drift": "driftalign.cli.drift_commands",
    "probe": "driftalign.cli.probe_commands",
    "label": "driftalign.cli.eval_commands",
    "init-student": "driftalign.cli.student_commands",
    "spd": "driftalign.cli.student_commands",
    "generate": "driftalign.cli.student_commands",
    "consensus": "driftalign.cli.apo_commands",
    "apo": "driftalign.cli.apo_commands",
    "classifier": "driftalign.cli.classifier_commands",
    "ddsample": "driftalign.cli.deer_commands",
    "grpo": "driftalign.cli.deer_commands",
    "eval": "driftalign.cli.eval_commands",
    "report": "driftalign.cli.report_commands",
}


class StageGroup(click.Group):
    """A click group whose commands are imported from their stage module on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        module = COMMANDS.get(name)
        if module is None:
            return None
        for command in importlib.import_module(module).commands():
            if command.name == name:
                return command
        raise RuntimeError(f"{module} does not define the command {name!r}")


def quiet_libraries(verbose: bool) -> None:
    """Unless --verbose: transformers logs errors only and shows no per-file progress bars ("Loading
    weights", "Writing model shards"); the trainers show one rich progress line per stage
    (`training.common.quiet_trainer`) and log everything to OUT/trainer_log.jsonl. Environment
    variables, so that no library is imported before a command needs it; a value the user set wins."""
    import os

    if verbose:
        os.environ["DRIFTALIGN_VERBOSE"] = "1"
        return
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import warnings

    # TRL 1.16 still sets and reads transformers' `gradient_checkpointing` names, which transformers 5.23
    # deprecates in favour of `activation_checkpointing`: two FutureWarnings per GRPO run, nothing to act on.
    warnings.filterwarnings("ignore", message=r".*gradient_checkpointing.*deprecated", category=FutureWarning)


@click.group(cls=StageGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="driftalign")
@click.option("--verbose", is_flag=True, help="show the libraries' own logs and progress bars (transformers, Trainer)")
def cli(verbose: bool) -> None:
    """driftalign: distil a vision-language student from several drifting teachers (APO),
    then fine-tune it with clinically weighted RL (DEER). All data here is synthetic unless
    you point it at your own dataset directory."""
    global _verbose
    _verbose = verbose
    quiet_libraries(verbose)


_verbose = False   # `driftalign --verbose`: errors raise with their traceback instead of one line


def disk_full(e: BaseException) -> str | None:
    """"disk full while writing PATH" when `e` (or what caused it) is a full disk or a file-size limit:
    OSError ENOSPC / EFBIG (PATH from its filename), or a library's error wrapping one (SQLite's "database
    or disk is full", safetensors' "No space left on device") that names no file. None otherwise."""
    seen: set[int] = set()
    err: BaseException | None = e
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in DISK_FULL:
            where = err.filename if err.filename is not None else "a file"
            return f"disk full while writing {where} ({err.strerror or errno.errorcode[err.errno]})"
        text = str(err)
        if any(s in text for s in ("No space left on device", "File too large", "database or disk is full")):
            return f"disk full while writing ({text.splitlines()[0][:200] if text else type(err).__name__})"
        err = err.__cause__ or err.__context__
    return None


def main(argv: list[str] | None = None) -> None:
    import signal

    # A process started in the background by a non-interactive shell (`cmd &`, CI runners, nohup) inherits
    # SIGINT = ignored, and Python then never raises KeyboardInterrupt: Ctrl-C / SIGINT could not stop a
    # collection or the teacher server cleanly. Restore the default handler.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    from pydantic import ValidationError

    from driftalign.config import validation_message

    global _verbose
    _verbose = False
    try:
        cli.main(args=argv, prog_name="driftalign", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except DriftalignError as e:
        if _verbose:
            raise
        _fail(str(e))
    except ValidationError as e:     # a config validated outside StageConfig.load: still one line
        if _verbose:
            raise
        _fail(f"{e.title}: {validation_message(e)}")
    except Exception as e:
        message = disk_full(e)
        if message is None or _verbose:
            raise
        _fail(message)


def _fail(message: str) -> None:
    """The one error format: `error: <file or stage>: <what>` on one line, exit status 2."""
    click.echo(f"error: {' '.join(message.split())}", err=True)
    sys.exit(2)
