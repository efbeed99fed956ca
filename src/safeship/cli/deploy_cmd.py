"""safeship deploy ENV --version V."""

from __future__ import annotations

from pathlib import Path

from safeship.cli.common import console, load
from safeship.cli.live import LiveDisplay, sigterm_as_interrupt
from safeship.cli.render import outcome_line
from safeship.pipeline import operations


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
    finally:
        display.close()
    console.print(outcome_line(outcome))
    return 0 if outcome.ok else 1
