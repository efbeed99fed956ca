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
    from safeship.cli.common import load
    from safeship.paths.build import breaker_for, build_path
    from safeship.plugins import PluginNotFound
    from safeship.redaction import redact

    loaded = load(config)
    settings = loaded.config.paths
    breaker = breaker_for(settings, loaded.base_dir)
    rows: list[dict[str, object]] = []
    for name in settings.order:
        try:
            availability = build_path(name, settings).is_available()
            ok, reason = availability.ok, availability.reason
        except PluginNotFound as exc:
            ok, reason = False, str(exc)
        cooling = breaker.open_reason(name)
        rows.append({"path": name, "available": ok, "reason": reason, "cooldown": cooling})
    if json_output:
        print(redact(json.dumps(rows, indent=2)))
    else:
        for row in rows:
            state = "available" if row["available"] else "unavailable"
            line = f"{row['path']}: {state}: {row['reason']}"
            if row["cooldown"]:
                line += f" (skipped by failover: {row['cooldown']})"
            print(redact(line))
    return 0 if any(row["available"] for row in rows) else 1
