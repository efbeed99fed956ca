"""The event bus: one stream, many sinks; a failing sink never stops the caller."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Protocol, TextIO

from safeship.events.model import Event


class Sink(Protocol):
    def handle(self, event: Event) -> None: ...


class EventBus:
    def __init__(self, sinks: Iterable[Sink] = (), errors: TextIO | None = None) -> None:
        self._sinks = list(sinks)
        self._errors = errors
        self.failures = 0

    def subscribe(self, sink: Sink) -> None:
        self._sinks.append(sink)

    def publish(self, event: Event) -> None:
        for sink in self._sinks:
            try:
                sink.handle(event)
            except Exception as exc:  # a sink must never block a deploy or a rollback
                self.failures += 1
                stream = self._errors or sys.stderr
                name = type(sink).__name__
                print(
                    f"safeship: event sink {name} failed on {event.event}: {_one_line(exc)}",
                    file=stream,
                )


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
