"""safeship config check."""

from __future__ import annotations

from pathlib import Path

from safeship.cli.common import console, load


def run_check(config: Path | None) -> int:
    loaded = load(config)
    envs = ", ".join(sorted(loaded.config.environments))
    console.print(f"{loaded.path}: ok ({len(loaded.config.environments)} environments: {envs})")
    return 0
