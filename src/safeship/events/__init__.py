"""Structured events: the model, the bus and its sinks."""

from safeship.events.bus import EventBus, Sink
from safeship.events.model import Event, EventName, utc_now
from safeship.events.sinks import JsonLinesSink, RegistrySink

__all__ = ["Event", "EventBus", "EventName", "JsonLinesSink", "RegistrySink", "Sink", "utc_now"]
