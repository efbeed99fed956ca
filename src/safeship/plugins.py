"""The plugin registry: every adapter by name, from the entry points of installed distributions.

Each port has one entry point group; safeship's own adapters are listed there once, in its
pyproject.toml, exactly as a third party lists its own (see docs/plugins.md):

    safeship.targets         Target            cls(environment, settings, run_dir, base_dir)
    safeship.routers         Router            cls(environment, port, state_dir, settings)
    safeship.paths           DeployPath        cls.configured(paths_settings, runner)
    safeship.checks          Check             factory(settings, values) -> Check
    safeship.metric_sources  MetricSource      cls(router, environment, settings)
    safeship.notifiers       Notifier          cls.configured(settings, errors) -> Notifier | None
    safeship.secret_stores   SecretStore       cls(environment, target)
    safeship.versioned_stores  VersionedSecretStore  cls(environment, settings, base_dir)
    safeship.rotators        Rotator           cls(secret, environment, options, base_dir)

The constructor contracts are documented with each port's protocol. Nothing here imports an
adapter until it is asked for by name: ``safeship status`` must not pay for httpx or psycopg.
"""

from __future__ import annotations

import os
import sys
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar, Final

from pydantic import BaseModel, ConfigDict, field_validator

if TYPE_CHECKING:
    from pathlib import Path

TARGETS: Final = "safeship.targets"
ROUTERS: Final = "safeship.routers"
PATHS: Final = "safeship.paths"
CHECKS: Final = "safeship.checks"
METRIC_SOURCES: Final = "safeship.metric_sources"
NOTIFIERS: Final = "safeship.notifiers"
SECRET_STORES: Final = "safeship.secret_stores"
VERSIONED_STORES: Final = "safeship.versioned_stores"
ROTATORS: Final = "safeship.rotators"

GROUPS: Final = (
    TARGETS,
    ROUTERS,
    PATHS,
    CHECKS,
    METRIC_SOURCES,
    NOTIFIERS,
    SECRET_STORES,
    VERSIONED_STORES,
    ROTATORS,
)


class PluginNotFound(Exception):
    """No installed distribution registers that name in that group. One line for the user."""


def _entry_points(group: str) -> dict[str, str]:
    """``group``'s names and what each names ("module:attribute")."""
    return _all_entry_points(tuple(sys.path)).get(group, {})


@cache
def _all_entry_points(search_path: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """Every group's entry points, from one scan of the distributions on ``search_path``
    (``sys.path``: a directory added to it is scanned again).

    Scanning reads every installed distribution's metadata (importlib.metadata and some 5-10
    ms each time: a tenth of `safeship status`). The result is kept in the user's cache
    directory and reused while no distribution on ``search_path`` was added, removed or had
    its entry points changed (``_installed``: each directory's distributions and the size and
    time of their entry_points.txt). The first distribution on sys.path that registers a
    name wins (importlib's order).
    """
    import json

    from safeship._cache import cache_dir, read_private

    key = installed_fingerprint(search_path)
    try:
        cached_file: Path | None = cache_dir() / "entry-points.json"
    except RuntimeError:  # no home directory to keep it in
        cached_file = None
    if cached_file is not None and (data := read_private(cached_file)) is not None:
        try:
            cached = json.loads(data)
        except ValueError:
            cached = None
        if isinstance(cached, dict) and cached.get("key") == key:
            found: dict[str, dict[str, str]] = cached["groups"]
            return found
    found = _scan()
    if cached_file is not None:
        import contextlib

        from safeship._files import write_private_json

        with contextlib.suppress(OSError):
            write_private_json(cached_file, {"key": key, "groups": found})
    return found


@cache
def installed_fingerprint(search_path: tuple[str, ...]) -> str:
    """A digest of what the distributions on ``search_path`` register (``_installed``): it
    changes when one is added, removed, or has its entry points changed. What depends on the
    installed plugins (the scan, a validated config) is reused only under the same digest."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(_installed(search_path)).encode()).hexdigest()


def _scan() -> dict[str, dict[str, str]]:
    from importlib.metadata import entry_points

    every = entry_points()  # parsed once; selecting a group from it is cheap
    found: dict[str, dict[str, str]] = {}
    for group in GROUPS:
        found[group] = {}
        for ep in every.select(group=group):
            found[group].setdefault(ep.name, ep.value)
    return found


def _installed(search_path: tuple[str, ...]) -> list[object]:
    """What a scan of ``search_path`` depends on: each entry, its distributions' metadata
    directories, and the size and modification time of each one's entry_points.txt."""
    state: list[object] = []
    for entry in search_path:
        try:
            with os.scandir(entry or ".") as listing:
                metadata = sorted(
                    e.name for e in listing if e.name.endswith((".dist-info", ".egg-info"))
                )
        except OSError:
            state.append([entry, None])
            continue
        points = []
        for name in metadata:
            try:
                info = os.stat(os.path.join(entry or ".", name, "entry_points.txt"))
                points.append([name, info.st_size, info.st_mtime_ns])
            except OSError:
                points.append([name, None])
        state.append([entry, points])
    return state


def _load(value: str) -> Any:
    """What an entry point's value ("module:attribute.path [extras]") names."""
    import importlib

    module, _, attributes = value.partition("[")[0].partition(":")
    found: Any = importlib.import_module(module.strip())
    for part in filter(None, attributes.strip().split(".")):
        found = getattr(found, part)
    return found


def names(group: str) -> list[str]:
    """The names registered in ``group``, sorted (installers order entry points their own way;
    a message that lists them should read the same everywhere)."""
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
    return _load(entry)


class PluginSettings(BaseModel):
    """The table of a third party's adapter in safeship.toml: its ``type`` (a name registered
    in ``group``) and its own keys, which arrive unvalidated in ``model_extra`` for the adapter
    to read (or validate with its own model). A type nothing registers is the config error
    ``unknown type``, with the file's line."""

    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)

    group: ClassVar[str]

    type: str

    @field_validator("type")
    @classmethod
    def _registered(cls, kind: str) -> str:
        if not is_registered(cls.group, kind):
            known = ", ".join(repr(name) for name in names(cls.group))
            raise ValueError(f"unknown type {kind!r} (expected one of: {known})")
        return kind

    def setting(self, key: str, default: Any = None) -> Any:
        """The value of the adapter's own key ``key`` (``default`` when the table has none)."""
        return (self.model_extra or {}).get(key, default)
