"""safeship paths check: each deploy path's availability and why."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

paths_app = typer.Typer(help="Deploy paths and their failover order.", no_args_is_help=True)


@paths_app.callback()
def _group() -> None:
    """Deploy paths and their failover order."""


@paths_app.command("check")
def check(
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Path to safeship.toml (default: ./safeship.toml)."),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Each deploy path's availability, in failover order. Exit 1 when none is available."""
    raise typer.Exit(run_check(config, json_output))


def run_check(config: Path | None, json_output: bool) -> int:
    from safeship import core
    from safeship.cli.common import load
    from safeship.redaction import redact

    statuses = core.paths_status(load(config))
    if json_output:
        print(redact(json.dumps([s.as_json() for s in statuses], indent=2)))
    else:
        for s in statuses:
            line = f"{s.path}: {'available' if s.available else 'unavailable'}: {s.reason}"
            if s.cooldown:
                line += f" (skipped by failover: {s.cooldown})"
            print(redact(line))
    return 0 if any(s.available for s in statuses) else 1
