"""safeship mark DEPLOYMENT false-alarm [--reason TEXT] [--clear]: a person's verdict on a
deployment (a rollback that should not have happened), for the false positive rate of the
automatic rollbacks (`safeship analytics`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, TextIO

import typer

from safeship.cli import params


def command(
    deployment: Annotated[
        str,
        typer.Argument(
            help="The deployment: its id or a prefix (6+ hex digits).", callback=params.text
        ),
    ],
    mark: Annotated[
        str, typer.Argument(help="The mark: false-alarm.", callback=params.text)
    ] = "false-alarm",
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why, in a few words.", callback=params.text)
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Take the mark off.")] = False,
    by: Annotated[
        str | None,
        typer.Option("--by", help="Who marks it (default: user@host).", callback=params.text),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Path to safeship.toml (default: ./safeship.toml)."),
    ] = None,
) -> None:
    """Mark a rolled-back deployment a false alarm (or --clear the mark)."""
    raise typer.Exit(run(config, deployment, mark, reason=reason, clear=clear, by=by))


def run(
    config: Path | None,
    deployment: str,
    mark: str,
    *,
    reason: str | None = None,
    clear: bool = False,
    by: str | None = None,
    out: TextIO | None = None,
) -> int:
    from safeship import core
    from safeship.cli.common import load
    from safeship.validation import printable

    stream = out or sys.stdout
    if clear and reason is not None:
        print("safeship: error: --reason goes with a mark, not with --clear", file=sys.stderr)
        return 2
    try:
        loaded = load(config)
        done = core.mark_deployment(loaded, deployment, mark, by=by, reason=reason, clear=clear)
    except core.UsageError as exc:
        print(f"safeship: error: {exc}", file=sys.stderr)
        return 2
    d = done.deployment
    what = f"deployment {d.id[:8]} ({d.environment} {d.version}, {d.status})"
    if clear:
        line = f"{what}: {mark} cleared" if done.changed else f"{what} had no {mark} mark"
    elif done.changed:
        line = f"{what} marked {mark} by {done.marked_by}"
    else:
        line = f"{what} was already marked {mark} by {done.marked_by}"
    print(printable(line), file=stream)
    return 0
