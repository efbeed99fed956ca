"""Which exceptions are the user's to fix (exit 2) and which are failures (exit 1)."""

from __future__ import annotations

import sys

# (module, class) pairs; exit_code_for looks each up only if its module is already imported.
_USAGE_PROBLEMS = (
    ("safeship.config.loader", "ConfigError"),
    ("safeship.envschema.problems", "EnvSchemaError"),
    ("safeship.envschema.problems", "EnvSourceError"),
)
_REFUSED = (
    ("safeship.pipeline.deploy", "DeployRefused"),
    ("safeship.pipeline.operations", "RollbackImpossible"),
    ("safeship.plugins", "PluginNotFound"),
)
_FAILURES = (
    ("safeship.registry.leases", "EnvironmentBusy"),
    ("safeship.targets.base", "TargetError"),
    ("safeship.routing.base", "RouterError"),
    ("safeship.registry.store", "RegistryError"),
    ("safeship.paths.base", "PathError"),
    ("safeship.paths.failover", "AllPathsFailed"),
)


def _loaded(names: tuple[tuple[str, str], ...]) -> tuple[type[BaseException], ...]:
    """The classes among ``names`` whose modules are imported (others cannot have been raised)."""
    found: list[type[BaseException]] = []
    for module_name, class_name in names:
        module = sys.modules.get(module_name)
        if module is not None:
            found.append(getattr(module, class_name))
    return tuple(found)


def exit_code_for(exc: BaseException) -> tuple[int, str]:
    # Only modules already imported can have raised: an error path does not load the core.
    text = str(exc).strip()
    if isinstance(exc, _loaded(_USAGE_PROBLEMS)):
        # Several problems in one file: one line each.
        return 2, "\n".join(getattr(exc, "problems", [text]))
    if isinstance(exc, _loaded(_REFUSED)):
        return 2, text
    # Another deploy holds the environment: a failure to deploy now (exit 1), not a usage error.
    if isinstance(exc, _loaded(_FAILURES)):
        return 1, text
    first = text.splitlines()[0] if text else ""
    return 1, (
        f"unexpected {type(exc).__name__}: {first} (run with SAFESHIP_DEBUG=1 for a traceback)"
    )
