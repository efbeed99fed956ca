"""The console entry point (`safeship`, `python -m safeship`): known errors become one line and
an exit code, never a traceback.

The everyday read-only commands (``safeship.cli.fast``) run without Typer, which takes some
60 ms to import; every other command line goes through the Typer app in ``safeship.cli.main``.
Click's usage errors (an unknown option, a missing argument) are one line and exit 2 too,
instead of its usage box; ``safeship`` or a group without arguments still prints its help.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from typer._click.exceptions import ClickException


def run() -> None:
    from safeship.cli.errors import exit_code_for
    from safeship.cli.fast import dispatch

    try:
        code = dispatch(sys.argv[1:])
        if code is None:
            code = _run_typer()
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Exception as exc:
        if os.environ.get("SAFESHIP_DEBUG"):
            raise
        code, message = exit_code_for(exc)
        _fail(message, code)
    raise SystemExit(code)


def _run_typer() -> int:
    # Typer's own copy of Click: its exceptions are not the installed click's.
    from typer import Abort
    from typer._click.exceptions import ClickException, NoArgsIsHelpError

    from safeship.cli.main import cli

    try:
        code = cli().main(standalone_mode=False)
    except NoArgsIsHelpError as exc:
        exc.show()
        raise SystemExit(exc.exit_code) from None
    except ClickException as exc:
        _fail(_click_message(exc), exc.exit_code)
    except Abort:
        _fail("aborted", 1)
    return code if isinstance(code, int) else 0


def _fail(message: str, code: int) -> NoReturn:
    from safeship.redaction import redact

    for line in redact(message).splitlines() or [""]:
        print(f"safeship: error: {line}", file=sys.stderr)
    raise SystemExit(code)


def _click_message(exc: ClickException) -> str:
    """A usage error in one printable line: the message and the command's --help."""
    from typer._click.exceptions import UsageError

    from safeship.validation import printable

    message = " ".join(exc.format_message().split())
    if isinstance(exc, UsageError) and exc.ctx is not None:
        message += f" (see {exc.ctx.command_path} --help)"
    return printable(message)
