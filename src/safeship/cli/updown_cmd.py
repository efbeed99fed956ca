"""safeship up ENV / safeship down ENV."""

from __future__ import annotations

from pathlib import Path

from safeship import core
from safeship.cli.common import console, load


def run_up(config: Path | None, environment: str) -> int:
    port = core.up(load(config), environment)
    if port is None:  # the platform routes: nothing listens here
        console.print(f"{environment}: platform-routed, nothing to start here")
    else:
        console.print(f"{environment}: router listening on http://127.0.0.1:{port}")
    return 0


def run_down(config: Path | None, environment: str) -> int:
    stopped = core.down(load(config), environment)
    console.print(f"{environment}: stopped {stopped} process(es)")
    return 0
