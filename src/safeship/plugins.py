"""Adapters by name: the built-in ones, plus third parties' through entry points."""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

# Built-in adapters, also found when safeship runs from a source tree without its metadata.
_BUILTIN: dict[str, dict[str, str]] = {
    "safeship.targets": {
        "local": "safeship.targets.local:LocalTarget",
        "railway": "safeship.targets.railway:RailwayTarget",
        "command": "safeship.targets.command:CommandTarget",
    },
    "safeship.paths": {
        "github-actions": "safeship.paths.github_actions:GitHubActionsPath",
        "railway-native": "safeship.paths.railway_native:RailwayNativePath",
        "circleci": "safeship.paths.circleci:CircleCIPath",
        "local": "safeship.paths.local:LocalPath",
    },
    "safeship.routers": {
        "builtin": "safeship.routing.builtin:BuiltinRouter",
        "nginx": "safeship.routing.nginx:NginxRouter",
        "platform": "safeship.routing.platform:PlatformRouter",
    },
}


class PluginNotFound(Exception):
    pass


def load_adapter(group: str, name: str) -> Any:
    """The class registered as ``name`` in the entry point ``group``."""
    for ep in entry_points(group=group):
        if ep.name == name:
            return ep.load()
    spec = _BUILTIN.get(group, {}).get(name)
    if spec is None:
        known = sorted({ep.name for ep in entry_points(group=group)} | set(_BUILTIN.get(group, {})))
        raise PluginNotFound(f"no {group} adapter named {name!r} (known: {', '.join(known)})")
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)
