"""safeship freeze status [ENV]: the freeze windows in force now and the next ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from safeship.cli import params
from safeship.cli.options import ConfigOption

if TYPE_CHECKING:
    from safeship.core import EnvironmentFreeze

freeze_app = typer.Typer(help="Freeze windows: when deploys are refused.", no_args_is_help=True)


@freeze_app.callback()
def _group() -> None:
    """Freeze windows: when deploys to an environment are refused."""


@freeze_app.command("status")
def status(
    environment: Annotated[
        str | None, typer.Argument(help="Environment (default: all).", callback=params.environment)
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """The freeze windows in force now and the next ones, per environment."""
    raise typer.Exit(run_status(config, environment, json_output))


def run_status(config: Path | None, environment: str | None, json_output: bool) -> int:
    from safeship import core
    from safeship.cli.common import load
    from safeship.redaction import redact

    statuses = core.freeze_status(load(config, reuse=True), environment)
    if json_output:
        print(redact(json.dumps([s.as_json() for s in statuses], indent=2)))
    else:
        for line in (line for s in statuses for line in _lines(s)):
            print(redact(line))
    return 0


def _lines(status: EnvironmentFreeze) -> list[str]:
    name = status.environment
    if not status.windows:
        return [f"{name}: no freeze windows"]
    lines = []
    for period in status.in_force:
        reason = f" ({period.reason})" if period.reason else ""
        lines.append(f"{name}: frozen by {period.window!r} until {period.end_local}{reason}")
    if not status.in_force:
        lines.append(f"{name}: not frozen")
    for period in status.upcoming:
        lines.append(
            f"{name}: next {period.window!r} from {period.start_local} to {period.end_local}"
        )
    return lines
