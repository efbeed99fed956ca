"""safeship up ENV / safeship down ENV."""

from __future__ import annotations

from pathlib import Path

from safeship.cli.common import console, load
from safeship.pipeline import operations


def run_up(config: Path | None, environment: str) -> int:
    loaded = load(config)
    operations.up(loaded, environment)
    port = loaded.config.environments[environment].port
    if port is None:  # the platform routes: nothing listens here
        console.print(f"{environment}: platform-routed, nothing to start here")
    else:
        console.print(f"{environment}: router listening on http://127.0.0.1:{port}")
    return 0


def run_down(config: Path | None, environment: str) -> int:
    stopped = operations.down(load(config), environment)
    console.print(f"{environment}: stopped {stopped} process(es)")
    return 0
