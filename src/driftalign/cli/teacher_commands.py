"""Teacher commands: `collect` (query teacher endpoints) and `serve-teachers` (simulated endpoints)."""

from __future__ import annotations

import os
from pathlib import Path

import click
from pydantic import Field, model_validator

from driftalign.cli.options import config_command
from driftalign.config import StageConfig, save_config
from driftalign.console import table_console
from driftalign.errors import ConfigError, DriftalignError
from driftalign.teachers.collect import STATE_DIR, CollectError, collect
from driftalign.teachers.faults import FaultConfig
from driftalign.teachers.server import DEFAULT_PORT, make_server
from driftalign.teachers.summary import CollectSummary, summary_table


class CollectConfig(StageConfig):
    data: Path = Field(description="dataset directory (studies.jsonl, images/)", json_schema_extra={"positional": True})
    teachers: Path = Field(description="teachers YAML: one entry per OpenAI-compatible endpoint")
    out: Path | None = Field(None, description="output dataset directory for trajectories.jsonl (none = DATA itself)")
    limit: int | None = Field(None, ge=1, description="only the first N studies (of the split)")
    split: str | None = Field(None, description="only studies of this split (train/val/test/external)")
    store: Path | None = Field(None, description="answer store (none = OUT/.driftalign/collect.sqlite)")
    progress: bool = Field(True, description="show per-teacher progress bars")


def _print_summary(summary: CollectSummary) -> None:
    console = table_console()
    console.print(summary_table(summary))
    click.echo(f"{summary.exported} trajectories -> {summary.trajectories} (store: {summary.store})")


def run_collect(cfg: CollectConfig) -> CollectSummary:
    out = cfg.out or cfg.data
    try:
        summary = collect(cfg.data, cfg.teachers, out=out, limit=cfg.limit, split=cfg.split,
                          store_path=cfg.store, progress=cfg.progress)
    except CollectError as e:
        _print_summary(e.summary)
        raise
    except KeyboardInterrupt:
        raise DriftalignError("interrupted: answers received so far are stored; run the same command again "
                              "to collect only what is missing") from None
    save_config(cfg, out / STATE_DIR, "collect_config.yaml")
    _print_summary(summary)
    return summary


class ServeConfig(StageConfig):
    data: Path = Field(description="synthetic dataset directory whose studies the teachers answer about",
                       json_schema_extra={"positional": True})
    host: str = Field("127.0.0.1", description="interface to bind (keep 127.0.0.1 unless you mean it)")
    port: int = Field(DEFAULT_PORT, ge=0, le=65535, description="TCP port (0 = any free port)")
    latency_ms: float = Field(0.0, ge=0, description="simulated latency added to every request")
    fault_429: float = Field(0.0, ge=0, le=1, description="fraction of requests answered 429 with Retry-After")
    fault_500: float = Field(0.0, ge=0, le=1, description="fraction answered 500")
    fault_slow: float = Field(0.0, ge=0, le=1, description="fraction answered only after --slow-s seconds")
    fault_malformed: float = Field(0.0, ge=0, le=1, description="fraction answered 200 with an invalid JSON body")
    fault_drop: float = Field(0.0, ge=0, le=1, description="fraction whose connection is closed without a response")
    slow_s: float = Field(30.0, ge=0, description="sleep of a 'slow' request")
    retry_after_s: float = Field(1.0, ge=0, description="Retry-After header of a 429")
    log: Path | None = Field(None, description="request log, one JSON line per request")
    seed: int = Field(0, description="seed of the teachers' answers and of the fault decisions")
    api_key_env: str | None = Field(None, description="require 'Authorization: Bearer $VAR' (name of the env var)")

    @model_validator(mode="after")
    def _fault_sum(self) -> ServeConfig:
        total = self.fault_429 + self.fault_500 + self.fault_slow + self.fault_malformed + self.fault_drop
        if total > 1.0:
            raise ValueError(f"fault fractions sum to {total:g} > 1")
        return self

    def fault_config(self) -> FaultConfig:
        return FaultConfig(rate_429=self.fault_429, rate_500=self.fault_500, rate_slow=self.fault_slow,
                           rate_malformed=self.fault_malformed, rate_drop=self.fault_drop, slow_s=self.slow_s,
                           retry_after_s=self.retry_after_s, seed=self.seed)


def _server_key(name: str | None) -> str | None:
    if name is None:
        return None
    key = os.environ.get(name)
    if not key:
        raise ConfigError(f"--api-key-env: environment variable {name} is not set or empty")
    return key


def run_serve(cfg: ServeConfig) -> None:
    server = make_server(cfg.data, host=cfg.host, port=cfg.port, faults=cfg.fault_config(),
                         latency_s=cfg.latency_ms / 1000.0, api_key=_server_key(cfg.api_key_env), log_path=cfg.log)
    host, port = server.server_address[:2]
    names = ", ".join(sorted(server.app.teachers))
    click.echo(f"serving synthetic teachers [{names}] over {len(server.app.images)} images "
               f"at http://{host}:{port}/v1 (Ctrl-C to stop)", err=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        click.echo("stopped", err=True)
    finally:
        server.server_close()
        server.log.close()


def commands() -> list[click.Command]:
    return [
        config_command("collect", CollectConfig, run_collect,
                       "Ask every teacher endpoint about every study; resumable; writes trajectories.jsonl."),
        config_command("serve-teachers", ServeConfig, run_serve,
                       "Serve the simulated teachers as an OpenAI-compatible API (with fault injection)."),
    ]
