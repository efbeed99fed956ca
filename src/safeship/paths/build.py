"""Deploy paths from the ``[paths]`` settings, by name: the built-in ones, or a third party's
registered in the ``safeship.paths`` entry point group (a class taking the PathsSettings)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from safeship.paths.base import DeployPath
from safeship.paths.failover import CircuitBreaker
from safeship.paths.local import LocalPath, Runner
from safeship.paths.settings import PathsSettings
from safeship.plugins import load_adapter

# The pipeline runner for an in-process path, by the path's name (recorded with the deploy).
RunnerFor = Callable[[str], Runner]


def build_path(name: str, settings: PathsSettings, run_here: RunnerFor | None = None) -> DeployPath:
    """The path ``name``. ``run_here``: the pipeline runner of the paths that deploy from this
    process (local, railway-native); without it they can be checked, not run."""
    if name == "github-actions" and settings.github_actions is not None:
        from safeship.paths.github_actions import GitHubActionsPath

        return GitHubActionsPath(settings.github_actions)
    if name == "circleci" and settings.circleci is not None:
        from safeship.paths.circleci import CircleCIPath

        return CircleCIPath(settings.circleci)
    if name == "railway-native" and settings.railway_native is not None:
        from safeship.paths.railway_native import RailwayNativePath

        return RailwayNativePath(
            settings.railway_native, runner=run_here(name) if run_here else None
        )
    if name == "local":
        return LocalPath(run_here(name) if run_here else None)
    adapter = load_adapter("safeship.paths", name)
    path: DeployPath = adapter(settings)
    return path


def build_paths(settings: PathsSettings, run_here: RunnerFor | None = None) -> list[DeployPath]:
    return [build_path(name, settings, run_here) for name in settings.order]


def breaker_for(settings: PathsSettings, base_dir: Path) -> CircuitBreaker:
    return CircuitBreaker(base_dir / settings.state_file, settings.cooldown)
