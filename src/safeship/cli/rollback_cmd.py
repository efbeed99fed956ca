"""safeship rollback ENV / safeship recover ENV."""

from __future__ import annotations

from pathlib import Path

from safeship.cli import pause_cmd
from safeship.cli.common import console, err_console, load
from safeship.cli.live import LiveDisplay, sigterm_as_interrupt
from safeship.cli.render import outcome_line
from safeship.pipeline import operations
from safeship.pipeline.deploy import Interrupted
from safeship.registry import EnvironmentBusy


def run(config: Path | None, environment: str) -> int:
    loaded = load(config)
    display = LiveDisplay(console)
    try:
        with sigterm_as_interrupt():
            outcome = operations.rollback(loaded, environment, on_progress=display)
    except EnvironmentBusy:
        display.close()
        # A deploy holds the lease: leave it an abort request (it reads it within 0.25 s).
        code = pause_cmd.run_rollback_while_running(config, environment)
        if code is None:  # busy with something else (a rollback, `safeship down`)
            raise
        return code
    except Interrupted as stopped:
        display.close()
        err_console.print(f"safeship: error: interrupted: {stopped}", soft_wrap=True)
        return 130
    finally:
        display.close()
    if outcome is None:
        console.print(f"{environment}: interrupted deployment rolled back to the stable release")
        return 0
    console.print(outcome_line(outcome), soft_wrap=True)
    return 0 if outcome.ok else 1


def run_recover(config: Path | None, environment: str) -> int:
    recovered = operations.recover(load(config), environment)
    if not recovered:
        console.print(f"{environment}: nothing to recover")
    for record in recovered:
        console.print(
            f"{environment}: closed {record.id[:8]} ({record.version}, was {record.status})"
        )
    return 0
