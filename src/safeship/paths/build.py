"""Deploy paths from the ``[paths]`` settings, by name, through the plugin registry (the
``safeship.paths`` entry point group: the built-in ones and any third party's alike)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from safeship.paths.base import DeployPath, Runner
from safeship.paths.failover import CircuitBreaker
from safeship.paths.settings import PathsSettings
from safeship.plugins import PATHS, load_adapter

# The pipeline runner for an in-process path, by the path's name (recorded with the deploy).
RunnerFor = Callable[[str], Runner]


class PathClass(Protocol):
    """What the ``safeship.paths`` entry point names (see ``DeployPath``)."""

    def configured(self, settings: PathsSettings, runner: Runner | None) -> DeployPath: ...


def build_path(name: str, settings: PathsSettings, run_here: RunnerFor | None = None) -> DeployPath:
    """The path ``name``. ``run_here``: the pipeline runner of the paths that deploy from this
    process (local, railway-native); without it they can be checked, not run."""
    adapter: PathClass = load_adapter(PATHS, name)
    return adapter.configured(settings, run_here(name) if run_here else None)


def build_paths(settings: PathsSettings, run_here: RunnerFor | None = None) -> list[DeployPath]:
    return [build_path(name, settings, run_here) for name in settings.order]


def breaker_for(settings: PathsSettings, base_dir: Path) -> CircuitBreaker:
    return CircuitBreaker(base_dir / settings.state_file, settings.cooldown)
