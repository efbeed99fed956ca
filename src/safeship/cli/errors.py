"""Which exceptions are the user's to fix (exit 2) and which are failures (exit 1).

The one place an exception becomes the line the user reads: known errors keep their own
message, the ones Python or a library raise on bad input (a file that cannot be written, a URL
httpx refuses, input nested too deeply) are said in one line, and every line is printable (no
control character from the input reaches the terminal).
"""

from __future__ import annotations

import errno
import sys

from safeship.validation import printable


def exit_code_for(exc: BaseException) -> tuple[int, str]:
    code, message = _classify(exc)
    return code, "\n".join(printable(line) for line in message.splitlines())


# Exceptions by their public name, looked up among the modules already imported (an instance
# of a class implies its module is loaded): a usage error exits at once, without importing the
# pipeline, the registry and the judge only to compare classes.
USAGE_ERRORS = (
    "safeship.auth.errors:AuthError",
    "safeship.pipeline.deploy:DeployRefused",
    "safeship.pipeline.operations:RollbackImpossible",
    "safeship.plugins:PluginNotFound",
    "safeship.validation:InvalidIdentifier",
)
# Another deploy holds the environment: a failure to deploy now (exit 1), not a usage error.
FAILURES = (
    "safeship.registry.leases:EnvironmentBusy",
    "safeship.targets.base:TargetError",
    "safeship.routing.base:RouterError",
    "safeship.registry.store:RegistryError",
    "safeship.paths.base:PathError",
    "safeship.paths.failover:AllPathsFailed",
)
# Several problems in one file (exit 2): one line each.
PROBLEM_LISTS = (
    "safeship.config.loader:ConfigError",
    "safeship.envschema.problems:EnvSchemaError",
    "safeship.envschema.problems:EnvSourceError",
)


def _is(exc: BaseException, names: tuple[str, ...]) -> bool:
    for name in names:
        module, _, attribute = name.partition(":")
        cls = getattr(sys.modules.get(module), attribute, None)
        if isinstance(cls, type) and isinstance(exc, cls):
            return True
    return False


def _classify(exc: BaseException) -> tuple[int, str]:
    text = str(exc).strip()
    if _is(exc, PROBLEM_LISTS):
        return 2, "\n".join(getattr(exc, "problems", [text]))
    if _is(exc, USAGE_ERRORS):
        return 2, text
    if _is(exc, FAILURES):
        return 1, text
    if isinstance(exc, OSError) and exc.strerror:
        return _os_error(exc)
    if isinstance(exc, RecursionError):
        return 2, "input nested too deeply (arrays, tables or JSON)"
    if _is(exc, ("httpx:InvalidURL",)):
        return 2, f"invalid URL: {text}"
    first = text.splitlines()[0] if text else ""
    return 1, (
        f"unexpected {type(exc).__name__}: {first} (run with SAFESHIP_DEBUG=1 for a traceback)"
    )


def _os_error(exc: OSError) -> tuple[int, str]:
    """A file or directory that cannot be used: its path and the reason, in one line.

    Permissions and a read-only file system are the user's to fix (exit 2); anything else
    (disk full, I/O error) is a failure (exit 1).
    """
    path = "" if exc.filename is None else str(exc.filename)
    if exc.filename2 is not None:
        path += f" -> {exc.filename2}"
    message = f"{path}: {exc.strerror}" if path else str(exc.strerror)
    if isinstance(exc, PermissionError) or exc.errno == errno.EROFS:
        return 2, f"{message} (check {'its' if path else 'the'} owner and permissions)"
    return 1, message
