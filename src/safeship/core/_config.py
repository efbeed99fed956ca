"""The config as a whole: what `safeship config check` finds beyond the file's own validation."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from safeship.config import LoadedConfig


def config_problems(loaded: LoadedConfig) -> list[str]:
    """Problems a deploy would meet (health checks' ${VARIABLES} not set, URLs made of them
    not valid), one line each; empty when the config is ready."""
    from safeship.health.resolve import config_problems as health_problems

    return health_problems(loaded)
