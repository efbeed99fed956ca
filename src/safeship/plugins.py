"""The plugin registry: every adapter by name, from the entry points of installed distributions.

Each port has one entry point group; safeship's own adapters are listed there once, in its
pyproject.toml, exactly as a third party lists its own (see docs/plugins.md):

    safeship.targets         Target            cls(environment, settings, run_dir, base_dir)
    safeship.routers         Router            cls(environment, port, state_dir, settings)
    safeship.paths           DeployPath        cls.configured(paths_settings, runner)
    safeship.checks          Check             factory(settings, values) -> Check
    safeship.metric_sources  MetricSource      (see safeship.analysis)
    safeship.notifiers       Notifier          cls.configured(settings, errors) -> Notifier | None
    safeship.secret_stores   SecretStore       cls(environment, target)

The constructor contracts are documented with each port's protocol. Nothing here imports an
adapter until it is asked for by name: ``safeship status`` must not pay for httpx or psycopg.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import Any, Final

TARGETS: Final = "safeship.targets"
ROUTERS: Final = "safeship.routers"
PATHS: Final = "safeship.paths"
CHECKS: Final = "safeship.checks"
METRIC_SOURCES: Final = "safeship.metric_sources"
NOTIFIERS: Final = "safeship.notifiers"
SECRET_STORES: Final = "safeship.secret_stores"

GROUPS: Final = (TARGETS, ROUTERS, PATHS, CHECKS, METRIC_SOURCES, NOTIFIERS, SECRET_STORES)


class PluginNotFound(Exception):
    """No installed distribution registers that name in that group. One line for the user."""


def _entry_points(group: str) -> dict[str, EntryPoint]:
    # The first distribution on sys.path that registers a name wins (importlib's order).
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=group):
        found.setdefault(ep.name, ep)
    return found


def names(group: str) -> list[str]:
    """The names registered in ``group``, sorted."""
    return sorted(_entry_points(group))


def is_registered(group: str, name: str) -> bool:
    return name in _entry_points(group)


def load_adapter(group: str, name: str) -> Any:
    """What ``name`` is registered as in ``group`` (a class, or a factory for checks).

    PluginNotFound (one line, the known names) when nothing is; an adapter that fails to
    import raises its own error.
    """
    if group not in GROUPS:
        raise PluginNotFound(f"no plugin group {group!r} (known: {', '.join(GROUPS)})")
    found = _entry_points(group)
    entry = found.get(name)
    if entry is None:
        known = ", ".join(sorted(found)) or "none installed"
        kind = group.removeprefix("safeship.")
        raise PluginNotFound(f"no {kind} adapter named {name!r} (known: {known})")
    return entry.load()
