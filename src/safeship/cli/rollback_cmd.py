"""safeship rollback ENV / safeship recover ENV."""

from __future__ import annotations

import sys
from pathlib import Path

from safeship import core
from safeship.cli.common import console, err_console, load
from safeship.cli.live import LiveDisplay, sigterm_as_interrupt
from safeship.cli.pause_cmd import print_abort_requested
from safeship.cli.render import outcome_line


def run(config: Path | None, environment: str, log_format: str = "live") -> int:
    """``log_format`` json: the events as JSON lines on stdout instead of the live view."""
    loaded = load(config)
    as_json = log_format == "json"
    display = LiveDisplay(console)
    out = err_console if as_json else console
    try:
        with sigterm_as_interrupt():
            result = core.rollback(
                loaded,
                environment,
                on_progress=None if as_json else display,
                event_log=sys.stdout if as_json else None,
            )
    except core.Interrupted as stopped:
        display.close()
        err_console.print(f"safeship: error: interrupted: {stopped}", soft_wrap=True)
        return 130
    finally:
        display.close()
    if result.abort_requested is not None:
        print_abort_requested(environment, result.abort_requested)
        return 0
    if result.deployed is None:
        out.print(f"{environment}: interrupted deployment rolled back to the stable release")
        return 0
    out.print(outcome_line(result.deployed), soft_wrap=True)
    return 0 if result.deployed.ok else 1


def run_recover(config: Path | None, environment: str) -> int:
    recovered = core.recover(load(config), environment)
    if not recovered:
        console.print(f"{environment}: nothing to recover")
    for deployment in recovered:
        console.print(
            f"{environment}: closed {deployment.id[:8]} "
            f"({deployment.version}, was {deployment.status})"
        )
    return 0
