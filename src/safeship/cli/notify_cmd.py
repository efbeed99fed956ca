"""safeship notify test|flush|status: the alert channels and the outbox."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from safeship.cli.options import ConfigOption

if TYPE_CHECKING:
    from safeship.core import OutboxStatus

notify_app = typer.Typer(help="Alert channels and the alerts outbox.", no_args_is_help=True)


@notify_app.callback()
def _group() -> None:
    """Alert channels and the alerts outbox."""


@notify_app.command("test")
def test(
    channel: Annotated[
        str | None, typer.Argument(help="One channel ([notify.NAME]); default: every one.")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Send a test message through each configured channel. Exit 1 when any failed."""
    raise typer.Exit(run_test(config, channel))


@notify_app.command("flush")
def flush(
    timeout: Annotated[float, typer.Option(help="Seconds to wait at most.", min=0, max=600)] = 30.0,
    config: ConfigOption = None,
) -> None:
    """Deliver every pending alert now. Exit 1 when some are still pending."""
    raise typer.Exit(run_flush(config, timeout))


@notify_app.command("status")
def status(config: ConfigOption = None) -> None:
    """The outbox: notifications by status, and the newest failures."""
    raise typer.Exit(run_status(config))


def run_test(config: Path | None, channel: str | None) -> int:
    from safeship import core
    from safeship.cli.common import load
    from safeship.redaction import redact

    loaded = load(config)
    try:
        results = core.notify_test(loaded, channel)
    except core.UnknownChannel as exc:
        print(f"safeship: error: {exc}")
        return 2
    if not results:
        print("no alert channel is configured (add a [notify.NAME] table)")
        return 1
    for result in results:
        print(redact(f"{result.channel}: ok" if result.ok else f"{result.channel}: {result.error}"))
    return 0 if all(r.ok for r in results) else 1


def run_flush(config: Path | None, timeout: float) -> int:
    from safeship import core
    from safeship.cli.common import load

    outbox = core.notify_flush(load(config), timeout)
    _print_status(outbox)
    return 0 if outbox.counts["pending"] == 0 else 1


def run_status(config: Path | None) -> int:
    from safeship import core
    from safeship.cli.common import load

    _print_status(core.notify_status(load(config)))
    return 0


def _print_status(outbox: OutboxStatus) -> None:
    from safeship.redaction import redact

    print(" ".join(f"{status} {count}" for status, count in outbox.counts.items()))
    for channel, environment, condition, error in outbox.failures:
        print(redact(f"failed: {channel} {environment} {condition}: {error or 'no error kept'}"))
