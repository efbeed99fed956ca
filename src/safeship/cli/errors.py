"""Which exceptions are the user's to fix (exit 2) and which are failures (exit 1).

The one place an exception becomes the line the user reads: known errors keep their own
message, the ones Python or a library raise on bad input (a file that cannot be written, a URL
httpx refuses, input nested too deeply) are said in one line, and every line is printable (no
control character from the input reaches the terminal).
"""

from __future__ import annotations

import errno


def exit_code_for(exc: BaseException) -> tuple[int, str]:
    code, message = _classify(exc)
    return code, "\n".join(_printable(line) for line in message.splitlines())


def _classify(exc: BaseException) -> tuple[int, str]:
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
    from safeship.validation import InvalidIdentifier

    text = str(exc).strip()
    if isinstance(exc, ConfigError | EnvSchemaError | EnvSourceError):
        # Several problems in one file: one line each.
        return 2, "\n".join(exc.problems)
    if isinstance(exc, DeployRefused | RollbackImpossible | PluginNotFound | InvalidIdentifier):
        return 2, text
    # Another deploy holds the environment: a failure to deploy now (exit 1), not a usage error.
    if isinstance(
        exc,
        EnvironmentBusy | TargetError | RouterError | RegistryError | PathError | AllPathsFailed,
    ):
        return 1, text
    if isinstance(exc, OSError) and exc.strerror:
        return _os_error(exc)
    if isinstance(exc, RecursionError):
        return 2, "input nested too deeply (arrays, tables or JSON)"
    if _is_invalid_url(exc):
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


def _is_invalid_url(exc: BaseException) -> bool:
    try:
        import httpx
    except ImportError:  # pragma: no cover - httpx is a dependency
        return False
    return isinstance(exc, httpx.InvalidURL)


def _printable(line: str) -> str:
    """``line`` with control and other invisible characters escaped (``\\x1b``)."""
    if line.isprintable():
        return line
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in line)
