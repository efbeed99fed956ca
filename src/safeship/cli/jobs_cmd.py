"""safeship jobs status|run: `safeship serve`'s background jobs, usable from the shell."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from safeship.cli.options import ConfigOption

if TYPE_CHECKING:
    from safeship.core import JobStatus

jobs_app = typer.Typer(help="The background jobs `safeship serve` runs.", no_args_is_help=True)


@jobs_app.callback()
def _group() -> None:
    """The background jobs `safeship serve` runs: outbox, drift, watch:ENV."""


@jobs_app.command("status")
def status(config: ConfigOption = None) -> None:
    """Each job: on or off, how often, and when it would run next."""
    raise typer.Exit(run_status(config))


@jobs_app.command("run")
def run(
    name: Annotated[str, typer.Argument(help="The job: outbox, drift or watch:ENV.")],
    config: ConfigOption = None,
) -> None:
    """Run one job now, here. Exit 1 when it failed."""
    raise typer.Exit(run_one(config, name))


def run_status(config: Path | None) -> int:
    from safeship import core
    from safeship.cli.common import load

    for job in core.job_statuses(load(config)):
        print(_line(job))
    return 0


def run_one(config: Path | None, name: str) -> int:
    from safeship import core
    from safeship.cli.common import load

    loaded = load(config)
    try:
        job = core.run_job(loaded, name)
    except core.UnknownJob as exc:
        print(f"safeship: error: {exc}")
        return 2
    print(_line(job))
    return 0 if job.last_ok else 1


def _line(job: JobStatus) -> str:
    from safeship.redaction import redact

    every = f"every {_seconds(job.every_seconds)}" if job.every_seconds else ""
    parts = [job.name, "on" if job.enabled else "off", every]
    if job.last_finished is not None:
        parts.append(f"ran {_when(job.last_finished)}: {'ok' if job.last_ok else 'failed'}")
    if job.last_error:
        parts.append(f"({job.last_error})")
    if job.enabled and job.next_run is not None:
        parts.append(f"next {_when(job.next_run)}")
    return redact("  ".join(p for p in parts if p))


def _seconds(value: float) -> str:
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if value >= size and value % size == 0:
            return f"{value / size:g}{unit}"
    return f"{value:g}s"


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
