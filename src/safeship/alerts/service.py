"""The alerts core put together for one process: the configured channels, the dispatcher
thread and the event sink (``pipeline.operations.open_session`` wires it to the bus)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from safeship.alerts.dispatcher import Dispatcher
from safeship.alerts.routing import adapter_route, routes_from
from safeship.alerts.sink import AlertSink
from safeship.notify.base import Notifier

if TYPE_CHECKING:
    from safeship.registry import Registry


@dataclass
class Alerting:
    sink: AlertSink
    dispatcher: Dispatcher

    def close(self, timeout: float | None = None) -> None:
        """Deliver what is ripe within ``timeout`` (``[alerts] close_timeout``); never raises."""
        self.dispatcher.close(timeout)


def build_channels(
    sections: Mapping[str, Any],
    errors: TextIO | None = None,
    adapters: Mapping[str, str] | None = None,
) -> dict[str, Notifier]:
    """Each channel of ``sections`` (``[notify.NAME]`` tables by name) that can run now,
    through the plugin registry: the notifier ``adapters[NAME]`` (``NotifySettings.adapter``:
    a named channel's ``type``), else NAME. One that cannot (its URL or token unset, its plugin
    broken) is one warning line and left out."""
    from safeship.plugins import NOTIFIERS, load_adapter

    channels: dict[str, Notifier] = {}
    for name, settings in sections.items():
        adapter = (adapters or {}).get(name, name)
        try:
            channel = load_adapter(NOTIFIERS, adapter).configured(settings, errors)
        except Exception as exc:  # a broken plugin must not stop a deploy
            text = " ".join(str(exc).split()) or type(exc).__name__
            print(f"safeship: warning: [notify.{name}]: {text}", file=errors or sys.stderr)
            continue
        if channel is not None:
            channels[name] = channel
    return channels


def start_alerting(
    config: Any,
    registry: Registry,
    errors: TextIO | None = None,
    *,
    channels: Mapping[str, Notifier] | None = None,
) -> Alerting:
    """The sink and the started dispatcher for ``config`` (its ``[alerts]`` and ``[notify.*]``);
    ``channels`` instead of building them (tests, benchmarks). The dispatcher's first pass
    delivers what earlier processes left pending."""
    sections = config.notify.sections()
    adapters = {name: config.notify.adapter(name) for name in sections}
    built = build_channels(sections, errors, adapters) if channels is None else dict(channels)
    settings = config.alerts
    # Routes name the configured channels (even one that cannot run now: its rows wait in the
    # outbox for a process that can send them).
    names = list(dict.fromkeys([*sections, *built]))
    defaults = {
        name: type(built[name]).default_route
        if name in built
        else adapter_route(adapters.get(name, name))
        for name in names
    }
    routes = routes_from(settings.routes, defaults)
    dispatcher = Dispatcher(registry, built, settings, errors=errors)
    dispatcher.start()
    return Alerting(AlertSink(registry, routes, settings, dispatcher, errors), dispatcher)
