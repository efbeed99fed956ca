"""Event sinks: JSON lines (structlog) and the registry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TextIO

from safeship.events.model import Event

if TYPE_CHECKING:
    from safeship.registry import Registry


class JsonLinesSink:
    """Writes each event as one JSON object per line (to stderr or a log file)."""

    def __init__(self, stream: TextIO) -> None:
        import structlog  # here: the config models import the events package

        self._log: Any = structlog.wrap_logger(
            structlog.PrintLogger(stream),
            processors=[structlog.processors.JSONRenderer(sort_keys=False)],
        )

    def handle(self, event: Event) -> None:
        fields = event.model_dump(mode="json", exclude={"event"})
        self._log.msg(event.event, **fields)


class RegistrySink:
    """Stores each event in the registry's events table."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    def handle(self, event: Event) -> None:
        attributes = event.model_dump(mode="json", exclude={"timestamp", "event", "deployment_id"})
        self._registry.add_event(event.deployment_id, event.event, event.timestamp, attributes)
