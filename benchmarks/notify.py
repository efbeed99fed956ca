"""Alert delivery: latency from event to receiver with five channels, and a burst of events
grouped without loss.

The alerts core runs as in a deploy (``safeship.alerts.service.start_alerting``: the outbox in
a real registry, the dispatcher thread, default routes) with five channels. By default these
are stand-ins: two loopback HTTP receivers (a POST of the notification as JSON to a local
server, answered 200) and three console channels (a JSON line to a file); ``--config`` takes
the channels of a safeship.toml's ``[notify.*]`` tables instead (the real adapters, pointed at
loopback receivers: tests/contract has them). A channel's delivery time is when its ``send``
returned, i.e. the receiver answered.

  latency   RUNS rollbacks of a production deploy, one at a time: each alert's time from
            the event's publication to each channel having it. group_wait (default 1 s) is
            most of it; run with --group-wait 0 to see the machinery alone.
  burst     BURST deployment.started events for one environment, published back to back:
            messages sent per channel against events (grouping: up to 50 alerts a message),
            every alert delivered exactly once per channel, and the time to drain the outbox.

    python benchmarks/notify.py [--runs 20] [--burst 1000] [--group-wait 1.0]
                                [--registry URL] [--config safeship.toml]
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx

from safeship.alerts.service import start_alerting
from safeship.alerts.settings import AlertSettings
from safeship.events.model import Event
from safeship.notify.base import EVERYTHING, DeliveryError, Notification, Notifier, RouteDefaults
from safeship.notify.console import ConsoleNotifier
from safeship.registry import Registry


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class LoopbackHttp:
    """A channel posting each notification as JSON to a loopback receiver."""

    default_route: ClassVar[RouteDefaults] = EVERYTHING
    min_interval: ClassVar[float] = 0.0

    def __init__(self, url: str) -> None:
        self._client = httpx.Client(timeout=5.0)
        self._url = url

    def send(self, notification: Notification) -> None:
        from safeship.alerts.codec import notification_json

        try:
            self._client.post(self._url, json=notification_json(notification)).raise_for_status()
        except httpx.HTTPError as exc:
            raise DeliveryError(str(exc), maybe_delivered=True) from None

    def close(self) -> None:
        self._client.close()


class Timed:
    """Wraps a channel: the time each alert id was delivered (send returned). ``timed``
    makes one with the wrapped channel's ``min_interval`` and ``default_route``."""

    default_route: ClassVar[RouteDefaults] = EVERYTHING
    min_interval: ClassVar[float] = 0.0

    def __init__(self, name: str, inner: Notifier) -> None:
        self.name = name
        self.inner = inner
        self.delivered: dict[str, float] = {}
        self.ids: list[str] = []
        self.messages = 0
        self._lock = threading.Lock()

    def send(self, notification: Notification) -> None:
        self.inner.send(notification)
        now = time.monotonic()
        with self._lock:
            self.messages += 1
            for alert in notification.alerts:
                self.ids.append(alert.id)
                self.delivered.setdefault(alert.id, now)

    def close(self) -> None:
        self.inner.close()


def timed(name: str, inner: Notifier) -> Timed:
    traits = {"min_interval": inner.min_interval, "default_route": inner.default_route}
    kind = type(f"Timed_{name}", (Timed,), traits)
    return kind(name, inner)  # type: ignore[no-any-return]


class _Config:
    """What start_alerting reads of a config: [alerts] and the [notify.*] names."""

    def __init__(self, alerts: AlertSettings, names: list[str]) -> None:
        self.alerts = alerts
        self.notify = self
        self._names = names

    def sections(self) -> dict[str, object]:
        return {name: {} for name in self._names}


def stand_in_channels(workdir: Path) -> tuple[dict[str, Notifier], list[ThreadingHTTPServer]]:
    servers = []
    channels: dict[str, Notifier] = {}
    for name in ("webhook", "slack"):
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        channels[name] = LoopbackHttp(f"http://127.0.0.1:{server.server_address[1]}/")
    for name in ("email", "console", "chat"):
        channels[name] = ConsoleNotifier(workdir / f"{name}.jsonl")
    return channels, servers


def configured_channels(path: Path) -> dict[str, Notifier]:
    from safeship.alerts.service import build_channels
    from safeship.config import load_config

    return build_channels(load_config(path).config.notify.sections())


def rollback(version: str) -> Event:
    return Event(
        event="rollback.triggered",
        environment="production",
        version=version,
        deployment_id=str(uuid.uuid4()),
        attributes={"reason": "error rate 12.0% > 5.0%", "rule": "health"},
    )


def wait_for(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return False


def measure_latency(
    registry: Registry, channels: dict[str, Timed], settings: AlertSettings, runs: int
) -> dict[str, list[float]]:
    config = _Config(settings, list(channels))
    alerting = start_alerting(config, registry, channels=channels)
    latencies: dict[str, list[float]] = collections.defaultdict(list)
    try:
        for n in range(runs):
            published = time.monotonic()
            row_ids = _written(alerting.sink, rollback(f"v{n}"))
            for name, channel in channels.items():
                if not wait_for(lambda c=channel, r=row_ids: any(i in c.delivered for i in r), 30):
                    print(f"{name}: run {n} not delivered within 30 s", file=sys.stderr)
                    continue
                first = min(channel.delivered[i] for i in row_ids if i in channel.delivered)
                latencies[name].append(first - published)
            time.sleep(settings.group_interval)  # each run its own message
    finally:
        alerting.close()
    return latencies


def _written(sink: Any, event: Event) -> set[str]:
    before = len(sink.written)
    sink.handle(event)
    return set(sink.written[before:])


def measure_burst(
    registry: Registry, channels: dict[str, Timed], settings: AlertSettings, burst: int
) -> dict[str, Any]:
    config = _Config(settings, list(channels))
    alerting = start_alerting(config, registry, channels=channels)
    started = time.monotonic()
    try:
        for n in range(burst):
            alerting.sink.handle(
                Event(event="deployment.started", environment="burst", version=f"b{n}")
            )
        published = time.monotonic() - started
        written = set(alerting.sink.written)
        expected = burst * len(channels)
        wait_for(lambda: sum(len(c.ids) for c in channels.values()) >= expected, 120)
        drained = time.monotonic() - started
    finally:
        alerting.close()
    return {
        "published_s": published,
        "drained_s": drained,
        "written": len(written),
        "messages": {name: c.messages for name, c in channels.items()},
        "received": {name: len(c.ids) for name, c in channels.items()},
        "duplicates": {
            name: sum(n - 1 for n in collections.Counter(c.ids).values())
            for name, c in channels.items()
        },
        "missing": len(written - {i for c in channels.values() for i in c.ids}),
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--group-wait", type=float, default=1.0)
    parser.add_argument("--registry", help="registry URL (default: a new SQLite file)")
    parser.add_argument("--config", type=Path, help="take the channels of this safeship.toml")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="safeship-notify-bench-"))
    url = args.registry or f"sqlite:///{workdir / 'registry.db'}"
    settings = AlertSettings(group_wait=args.group_wait, group_interval=0.05)

    def channels() -> dict[str, Timed]:
        inner = configured_channels(args.config) if args.config else stand_in_channels(workdir)[0]
        return {name: timed(name, channel) for name, channel in inner.items()}

    with Registry(url) as registry:
        latency = measure_latency(registry, channels(), settings, args.runs)
        burst = measure_burst(registry, channels(), settings, args.burst)
    print(f"latency, event to receiver ({args.runs} rollbacks, group_wait {args.group_wait} s)")
    print(f"  {'channel':<12} {'p50 s':>8} {'p95 s':>8} {'max s':>8}")
    every: list[float] = []
    for name, values in latency.items():
        every += values
        print(
            f"  {name:<12} {statistics.median(values):8.3f} {percentile(values, 0.95):8.3f} "
            f"{max(values):8.3f}"
        )
    if every:
        print(
            f"  {'all':<12} {statistics.median(every):8.3f} {percentile(every, 0.95):8.3f} "
            f"{max(every):8.3f}"
        )
    print(f"burst: {args.burst} events to {len(burst['messages'])} channels")
    print(f"  published in {burst['published_s']:.2f} s, drained in {burst['drained_s']:.2f} s")
    print(f"  {'channel':<12} {'messages':>9} {'alerts':>7} {'dup':>4}")
    for name, messages in burst["messages"].items():
        print(
            f"  {name:<12} {messages:>9} {burst['received'][name]:>7} "
            f"{burst['duplicates'][name]:>4}"
        )
    print(f"  outbox rows written {burst['written']}, never received {burst['missing']}")
    print(json.dumps({"latency_p50_s": statistics.median(every) if every else None,
                      "latency_p95_s": percentile(every, 0.95) if every else None,
                      **{k: v for k, v in burst.items() if k.endswith("_s")}}))  # fmt: skip
    return 0 if burst["missing"] == 0 and not any(burst["duplicates"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
