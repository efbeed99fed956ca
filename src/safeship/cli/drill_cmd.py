"""safeship drill ENV [--no-forward] / safeship drill --history [ENV]."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from safeship.cli.common import load

if TYPE_CHECKING:
    from safeship.core import DrillResult


def run(config: Path | None, environment: str, *, forward: bool) -> int:
    """Drill ENV: one line per leg, then the drill's; exit 1 when a leg failed."""
    from safeship import core
    from safeship.cli.common import err_console
    from safeship.cli.live import sigterm_as_interrupt

    loaded = load(config)
    try:
        with sigterm_as_interrupt():  # a stopped drill closes its deployment and its row
            result = core.drill(loaded, environment, forward=forward)
    except core.Interrupted as stopped:
        err_console.print(f"safeship: error: interrupted: {stopped}", soft_wrap=True)
        return 130
    for line in drill_lines(result):
        print(line)
    return 0 if result.ok else 1


def run_history(config: Path | None, environment: str | None, limit: int, *, as_json: bool) -> int:
    from safeship import core

    drills = core.drill_history(load(config), environment, limit)
    if as_json:
        print(json.dumps([_as_json(d) for d in drills], indent=2))
        return 0
    if not drills:
        print(f"no drills{f' of {environment}' if environment else ''} yet")
        return 0
    for drill in drills:
        when = f"{drill.started_at:%Y-%m-%d %H:%M} UTC" if drill.started_at else "?"
        outcome = drill.outcome or "running (or interrupted)"
        legs = ", ".join(
            f"{leg.name} {'ok' if leg.ok else 'FAILED'} {leg.seconds:.1f} s" for leg in drill.legs
        )
        route = f"{drill.serving_version} -> {drill.previous_version}"
        if any(leg.name == "forward" for leg in drill.legs):
            route += f" -> {drill.serving_version}"
        line = (
            f"#{drill.drill_id} {when} {drill.environment}: {outcome}; {route}"
            f" ({legs or 'no leg finished'}) by {drill.triggered_by}"
        )
        print(line + (f": {drill.reason}" if drill.reason else ""))
    return 0


def drill_lines(result: DrillResult) -> list[str]:
    lines = []
    for leg in result.legs:
        where = f"{leg.name}: {leg.version}"
        ident = f" ({leg.deployment_id[:8]})" if leg.deployment_id else ""
        if leg.ok:
            lines.append(f"{where} {leg.status}{ident} in {leg.seconds:.1f} s")
        else:
            lines.append(f"{where} FAILED{ident} after {leg.seconds:.1f} s: {leg.reason}")
    env = result.environment
    if result.ok:
        lines.append(f"{env}: rollback drill #{result.drill_id} passed")
    else:
        lines.append(f"{env}: rollback drill #{result.drill_id} failed: {result.reason}")
    return lines


def _as_json(drill: DrillResult) -> dict[str, object]:
    return {
        "id": drill.drill_id,
        "environment": drill.environment,
        "serving_version": drill.serving_version,
        "previous_version": drill.previous_version,
        "outcome": drill.outcome,
        "reason": drill.reason,
        "triggered_by": drill.triggered_by,
        "started_at": drill.started_at.isoformat() if drill.started_at else None,
        "finished_at": drill.finished_at.isoformat() if drill.finished_at else None,
        "legs": [
            {
                "name": leg.name,
                "version": leg.version,
                "ok": leg.ok,
                "seconds": leg.seconds,
                "reason": leg.reason,
                "deployment_id": leg.deployment_id,
                "status": leg.status,
            }
            for leg in drill.legs
        ],
    }
