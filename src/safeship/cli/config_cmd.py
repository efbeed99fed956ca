"""safeship config check."""

from __future__ import annotations

from pathlib import Path

from safeship import core
from safeship.cli.common import load
from safeship.config import ConfigError


def run_check(config: Path | None) -> int:
    loaded = load(config, reuse=True)  # the same file, code and plugins: the same verdict
    # Health checks' ${VARIABLES} must be set, and URLs made of them valid.
    problems = core.config_problems(loaded)
    if problems:
        raise ConfigError(problems)
    envs = ", ".join(sorted(loaded.config.environments))
    # A plain line (no rich): the path is printed as it is, brackets and all.
    print(f"{loaded.path}: ok ({len(loaded.config.environments)} environments: {envs})")
    return 0
