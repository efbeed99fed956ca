"""Which errors are the user's to fix and which are failures: the one list both faces read
(the CLI's exit codes, the dashboard's HTTP statuses).

Exceptions are named, and looked up among the modules already imported (an instance of a
class implies its module is loaded): a face classifies an error at once, without importing the
pipeline, the registry and the judge only to compare classes.
"""

from __future__ import annotations

import sys
from typing import Final, Literal

# Several problems in one file, one line each (a usage error).
PROBLEM_LISTS: Final = (
    "safeship.config.loader:ConfigError",
    "safeship.envschema.problems:EnvSchemaError",
    "safeship.envschema.problems:EnvSourceError",
)
USAGE_ERRORS: Final = (
    "safeship.auth.errors:AuthError",
    "safeship.core._backups:BackupRefused",
    "safeship.core._hosts:NotAFleet",
    "safeship.core._health:UsageError",
    "safeship.pipeline.deploy:DeployRefused",
    "safeship.pipeline.operations:RollbackImpossible",
    "safeship.pipeline.release:ReleaseRefused",
    "safeship.pipeline.rotation:RotationRefused",
    "safeship.plugins:PluginNotFound",
    "safeship.validation:InvalidIdentifier",
)
# Another deploy holds the environment, a target or a path failed: a failure to act now, not
# the user's input.
FAILURES: Final = (
    "safeship.registry.leases:EnvironmentBusy",
    "safeship.registry.releases:ReleaseBusy",
    "safeship.registry.rotations:RotationBusy",
    "safeship.pipeline.rotation:RotationFailed",
    "safeship.secrets.base:SecretStoreError",
    "safeship.rotation.base:RotatorError",
    "safeship.registry.errors:RegistryError",
    "safeship.targets.base:TargetError",
    "safeship.core._backups:BackupFailed",
    "safeship.routing.base:RouterError",
    "safeship.paths.base:PathError",
    "safeship.paths.failover:AllPathsFailed",
    "safeship.envschema.drift_pr:PullRequestFailed",
)

ErrorKind = Literal["problems", "usage", "failure"]


def is_one_of(exc: BaseException, names: tuple[str, ...]) -> bool:
    """``exc`` is an instance of one of the classes ``names`` ("module:Class") gives, among
    the modules already loaded."""
    for name in names:
        module, _, attribute = name.partition(":")
        cls = getattr(sys.modules.get(module), attribute, None)
        if isinstance(cls, type) and isinstance(exc, cls):
            return True
    return False


def error_kind(exc: BaseException) -> ErrorKind | None:
    """``problems`` (a list of the user's to fix), ``usage``, ``failure``, or None (unknown:
    unexpected)."""
    if is_one_of(exc, PROBLEM_LISTS):
        return "problems"
    if is_one_of(exc, USAGE_ERRORS):
        return "usage"
    if is_one_of(exc, FAILURES):
        return "failure"
    return None
