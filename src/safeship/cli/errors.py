"""Which exceptions are the user's to fix (exit 2) and which are failures (exit 1)."""

from __future__ import annotations


def exit_code_for(exc: BaseException) -> tuple[int, str]:
    from safeship.config import ConfigError
    from safeship.envschema.problems import EnvSchemaError, EnvSourceError
    from safeship.paths.base import PathError
    from safeship.paths.failover import AllPathsFailed
    from safeship.pipeline.deploy import DeployRefused
    from safeship.pipeline.operations import RollbackImpossible
    from safeship.plugins import PluginNotFound
    from safeship.registry import EnvironmentBusy, RegistryError
    from safeship.routing.base import RouterError
    from safeship.targets.base import TargetError

    text = str(exc).strip()
    if isinstance(exc, ConfigError | EnvSchemaError | EnvSourceError):
        # Several problems in one file: one line each.
        return 2, "\n".join(exc.problems)
    if isinstance(exc, DeployRefused | RollbackImpossible | PluginNotFound):
        return 2, text
    # Another deploy holds the environment: a failure to deploy now (exit 1), not a usage error.
    if isinstance(
        exc,
        EnvironmentBusy | TargetError | RouterError | RegistryError | PathError | AllPathsFailed,
    ):
        return 1, text
    first = text.splitlines()[0] if text else ""
    return 1, (
        f"unexpected {type(exc).__name__}: {first} (run with SAFESHIP_DEBUG=1 for a traceback)"
    )
