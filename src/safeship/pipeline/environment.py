"""An environment's adapters (target, router) built from the config.

The target is built on first use: building a platform's target makes its API client, which
needs the platform's token, and commands that only read the registry (`history`, `status`,
`abort`, `promote`, `smoke`) must work without it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from safeship.config import EnvironmentSettings, LoadedConfig
from safeship.plugins import load_adapter
from safeship.routing.base import Router
from safeship.targets.base import Target


class Environment:
    def __init__(
        self,
        name: str,
        settings: EnvironmentSettings,
        build_target: Callable[[], Target],
        router: Router,
        run_dir: Path,
    ) -> None:
        self.name = name
        self.settings = settings
        self.router = router
        self.run_dir = run_dir
        self._build_target = build_target
        self._target: Target | None = None

    @property
    def target(self) -> Target:
        """The target, built the first time it is asked for (TargetError if it cannot be,
        e.g. a platform token that is not set)."""
        if self._target is None:
            self._target = self._build_target()
        return self._target


def open_environment(loaded: LoadedConfig, name: str) -> Environment:
    settings = loaded.environment(name)  # an unknown one: the config error
    run_dir = loaded.run_dir(name)
    target_cls = load_adapter("safeship.targets", settings.target.type)
    router_cls = load_adapter("safeship.routers", settings.router.type)

    def build_target() -> Target:
        target: Target = target_cls(name, settings.target, run_dir, loaded.base_dir)
        return target

    # Its own directory: the target keeps one pid file (*.json) per release in run_dir.
    # Every router takes its settings; port is None only with the platform router.
    router: Router = router_cls(name, settings.port, run_dir / "router", settings.router)
    return Environment(name, settings, build_target, router, run_dir)
