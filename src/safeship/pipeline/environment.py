"""An environment's adapters (target, router) built from the config."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from safeship.config import ConfigError, EnvironmentSettings, LoadedConfig
from safeship.config.loader import locate_key
from safeship.plugins import load_adapter
from safeship.routing.base import Router
from safeship.targets.base import Target


@dataclass
class Environment:
    name: str
    settings: EnvironmentSettings
    target: Target
    router: Router
    run_dir: Path


def open_environment(loaded: LoadedConfig, name: str) -> Environment:
    environments = loaded.config.environments
    if name not in environments:
        known = ", ".join(sorted(environments)) or "none"
        line = locate_key(loaded.path.read_text(encoding="utf-8"), ("environments",))
        raise ConfigError(
            [
                f"{loaded.path.name}:{line or '?'}: environments.{name}: "
                f"unknown environment (configured: {known})"
            ]
        )
    settings = environments[name]
    run_dir = loaded.run_dir(name)
    target_cls = load_adapter("safeship.targets", settings.target.type)
    router_cls = load_adapter("safeship.routers", settings.router.type)
    target: Target = target_cls(name, settings.target, run_dir, loaded.base_dir)
    # Its own directory: the target keeps one pid file (*.json) per release in run_dir.
    # Every router takes its settings; port is None only with the platform router.
    router: Router = router_cls(name, settings.port, run_dir / "router", settings.router)
    return Environment(name, settings, target, router, run_dir)
