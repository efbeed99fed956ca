"""The alert channels: a test message through each, flushing the outbox, and its status."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from safeship.config import LoadedConfig


@dataclass(frozen=True)
class ChannelTest:
    channel: str
    ok: bool
    error: str | None = None  # one line, redacted, without the channel's credential


@dataclass(frozen=True)
class OutboxStatus:
    counts: dict[str, int]  # pending, delivered, failed, dropped
    # The newest failures: channel, environment, condition, last error.
    failures: list[tuple[str, str, str, str | None]] = field(default_factory=list)


class UnknownChannel(Exception):
    """The channel named is not a ``[notify.NAME]`` table; one line for the user."""


def notify_test(loaded: LoadedConfig, channel: str | None = None) -> list[ChannelTest]:
    """Send one test message through each configured channel (or the one named), now, in one
    attempt each, bypassing the outbox; the result per channel, in the file's order."""
    from safeship.alerts.service import build_channels
    from safeship.notify.base import Alert, DeliveryError, Notification
    from safeship.redaction import redact

    sections = loaded.config.notify.sections()
    configured = list(sections)
    if channel is not None and channel not in configured:
        known = ", ".join(configured) or "none"
        raise UnknownChannel(f"no channel {channel!r} is configured (configured: {known})")
    names = [channel] if channel is not None else configured
    results: list[ChannelTest] = []
    for name in names:
        warnings = io.StringIO()
        # One by one: each channel's own warning is its result.
        built = build_channels(
            {name: sections[name]}, warnings, {name: loaded.config.notify.adapter(name)}
        )
        notifier = built.get(name)
        if notifier is None:
            why = warnings.getvalue().strip().splitlines()
            error = why[0].removeprefix("safeship: warning: ") if why else "cannot run"
            results.append(ChannelTest(name, False, redact(error)))
            continue
        now = datetime.now(UTC)
        alert = Alert(
            id=f"test-{now.strftime('%Y%m%dT%H%M%S')}-{name}",
            condition="test",
            severity="info",
            state="firing",
            environment="test",
            summary=f"safeship: a test message to {name} (safeship notify test)",
            occurred_at=now,
            triggered_by="safeship notify test",
        )
        try:
            notifier.send(Notification(alert.id, name, "test", (alert,)))
            results.append(ChannelTest(name, True))
        except DeliveryError as exc:
            results.append(ChannelTest(name, False, redact(" ".join(str(exc).split()))))
        except Exception as exc:
            text = " ".join(str(exc).split()) or type(exc).__name__
            results.append(ChannelTest(name, False, redact(f"{type(exc).__name__}: {text}")))
        finally:
            notifier.close()
    return results


def notify_flush(
    loaded: LoadedConfig, timeout: float = 30.0, *, errors: TextIO | None = None
) -> OutboxStatus:
    """Deliver every pending notification now (group_wait not waited for), within
    ``timeout`` seconds; what could not be sent stays pending (or failed, after its retries).
    ``errors``: where the warnings go (a channel that cannot run; default stderr)."""
    from safeship.alerts.dispatcher import Dispatcher
    from safeship.alerts.service import build_channels
    from safeship.registry import Registry

    with Registry(loaded.registry_url()) as registry:
        notify = loaded.config.notify
        sections = notify.sections()
        channels = build_channels(sections, errors, {n: notify.adapter(n) for n in sections})
        Dispatcher(registry, channels, loaded.config.alerts, errors=errors).close(timeout)
        return OutboxStatus(registry.outbox_counts(), registry.outbox_failures())


def notify_status(loaded: LoadedConfig) -> OutboxStatus:
    """The outbox's notifications by status, and the newest failures."""
    from safeship.registry import Registry

    with Registry(loaded.registry_url()) as registry:
        return OutboxStatus(registry.outbox_counts(), registry.outbox_failures())
