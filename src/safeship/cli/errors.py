"""Which exceptions are the user's to fix (exit 2) and which are failures (exit 1).

The one place an exception becomes the line the user reads: known errors keep their own
message, the ones Python or a library raise on bad input (a file that cannot be written, a URL
httpx refuses, input nested too deeply) are said in one line, and every line is printable (no
control character from the input reaches the terminal).
"""

from __future__ import annotations

import errno

from safeship.core._errors import error_kind, is_one_of
from safeship.validation import printable


def exit_code_for(exc: BaseException) -> tuple[int, str]:
    code, message = _classify(exc)
    return code, "\n".join(printable(line) for line in message.splitlines())


def _classify(exc: BaseException) -> tuple[int, str]:
    text = str(exc).strip()
    kind = error_kind(exc)
    if kind == "problems":
        return 2, "\n".join(getattr(exc, "problems", [text]))
    if kind == "usage":
        return 2, text
    if kind == "failure":
        return 1, text
    if isinstance(exc, OSError) and exc.strerror:
        return _os_error(exc)
    if isinstance(exc, RecursionError):
        return 2, "input nested too deeply (arrays, tables or JSON)"
    if is_one_of(exc, ("httpx:InvalidURL",)):
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
