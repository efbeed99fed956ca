"""safeship hooks install | uninstall: native git pre-commit and pre-push hooks."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

hooks_app = typer.Typer(help="Git hooks that run the pre-push gate.", no_args_is_help=True)


@hooks_app.callback()
def _group() -> None:
    """Git hooks that run the pre-push gate."""


@hooks_app.command("install")
def install_command(
    force: Annotated[
        bool, typer.Option("--force", help="Replace a hook not written by safeship.")
    ] = False,
    chain: Annotated[
        bool, typer.Option("--chain", help="Keep a foreign hook and run it before safeship's.")
    ] = False,
) -> None:
    """Write pre-commit (staged lines) and pre-push (the push range) hooks calling safeship."""
    from safeship.hooks.gitdiff import GitError
    from safeship.hooks.install import HookConflict, install

    try:
        changes = install(Path.cwd(), force=force, chain=chain)
    except (GitError, HookConflict, OSError) as exc:
        print(f"safeship: error: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    for change in changes:
        print(change.text())


@hooks_app.command("uninstall")
def uninstall_command(
    force: Annotated[
        bool, typer.Option("--force", help="Also remove hooks not written by safeship.")
    ] = False,
) -> None:
    """Remove safeship's hooks (a chained hook is put back; foreign hooks are left alone)."""
    from safeship.hooks.gitdiff import GitError
    from safeship.hooks.install import uninstall

    try:
        changes = uninstall(Path.cwd(), force=force)
    except (GitError, OSError) as exc:
        print(f"safeship: error: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    for change in changes:
        print(change.text())
