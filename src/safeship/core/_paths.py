"""Deploy paths: each one's availability, in failover order."""

from __future__ import annotations

from typing import TYPE_CHECKING

from safeship.core._records import PathStatus

if TYPE_CHECKING:
    from safeship.config import LoadedConfig


def paths_status(loaded: LoadedConfig) -> list[PathStatus]:
    """Each path of ``[paths].order``: available or not and why, and whether failover skips it
    for now (its circuit breaker is open). A path that no plugin provides is unavailable."""
    from safeship.paths.build import breaker_for, build_path
    from safeship.plugins import PluginNotFound

    settings = loaded.config.paths
    breaker = breaker_for(settings, loaded.base_dir)
    statuses = []
    for name in settings.order:
        try:
            availability = build_path(name, settings).is_available()
            ok, reason = availability.ok, availability.reason
        except PluginNotFound as exc:
            ok, reason = False, str(exc)
        statuses.append(PathStatus(name, ok, reason, breaker.open_reason(name)))
    return statuses
