"""safeship deploy ENV --version V."""

from __future__ import annotations

from pathlib import Path

from safeship.cli.common import console, err_console, load
from safeship.cli.live import LiveDisplay, sigterm_as_interrupt
from safeship.cli.render import outcome_line
from safeship.pipeline import operations
from safeship.pipeline.deploy import Interrupted


def run(
    config: Path | None, environment: str, version: str, commit: str | None, triggered_by: str
) -> int:
    loaded = load(config)
    display = LiveDisplay(console)
    try:
        with sigterm_as_interrupt():
            outcome = operations.deploy(
                loaded,
                environment,
                version,
                commit=commit,
                triggered_by=triggered_by,
                on_progress=display,
            )
    except Interrupted as stopped:
        display.close()
        err_console.print(f"safeship: error: interrupted: {stopped}", soft_wrap=True)
        return 130
    finally:
        display.close()
    console.print(outcome_line(outcome))
    return 0 if outcome.ok else 1
