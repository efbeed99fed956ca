"""The event bus: one stream, many sinks; a failing sink never stops the caller."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Protocol, TextIO

from safeship.events.model import Event
from safeship.redaction import redact, redact_data


class Sink(Protocol):
    """Where the bus delivers each event: the JSON-lines log, the registry, the GitHub
    deployments reporter, and the alerts core (``safeship.alerts.sink.AlertSink``)."""

    def handle(self, event: Event) -> None: ...


class EventBus:
    def __init__(self, sinks: Iterable[Sink] = (), errors: TextIO | None = None) -> None:
        self._sinks = list(sinks)
        self._errors = errors
        self.failures = 0

    def subscribe(self, sink: Sink) -> None:
        self._sinks.append(sink)

    def publish(self, event: Event) -> None:
        # Sinks only ever see the redacted event: no secret reaches a log, a row or a webhook.
        event = redact_event(event)
        for sink in self._sinks:
            try:
                sink.handle(event)
            except Exception as exc:  # a sink must never block a deploy or a rollback
                self.failures += 1
                stream = self._errors or sys.stderr
                name = type(sink).__name__
                message = f"safeship: event sink {name} failed on {event.event}: {_one_line(exc)}"
                print(redact(message), file=stream)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def redact_event(event: Event) -> Event:
    return event.model_copy(
        update={
            "attributes": redact_data(event.attributes),
            "version": redact(event.version) if event.version else event.version,
            "commit": redact(event.commit) if event.commit else event.commit,
            "triggered_by": redact(event.triggered_by) if event.triggered_by else None,
        }
    )
