"""The alerts outbox on real SQLite and PostgreSQL: migration 0006, two dispatchers racing,
a process killed after writing a rollback alert, every channel hanging."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path
from typing import ClassVar

import pytest
import sqlalchemy as sa
from alembic import command

from safeship.alerts.dispatcher import Dispatcher
from safeship.alerts.routing import routes_from
from safeship.alerts.settings import AlertSettings
from safeship.alerts.sink import AlertSink
from safeship.events.model import Event
from safeship.notify.base import Notification
from safeship.notify.console import ConsoleNotifier
from safeship.registry import Registry
from safeship.registry.migrations import HEAD, alembic_config

QUICK = AlertSettings(group_wait=0.0, group_interval=0.0, close_timeout=10.0)


class Collector:
    """A channel that keeps every alert id it is sent (from any thread)."""

    min_interval: ClassVar[float] = 0.0

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.messages = 0
        self._lock = threading.Lock()

    def send(self, notification: Notification) -> None:
        time.sleep(0.005)  # a network's worth of time: the other dispatcher gets in
        with self._lock:
            self.ids.extend(a.id for a in notification.alerts)
            self.messages += 1

    def close(self) -> None:
        pass


class Hanging:
    """A channel whose server never answers (until the test lets it go)."""

    min_interval: ClassVar[float] = 0.0

    def __init__(self, release: threading.Event) -> None:
        self.release = release
        self.calls = 0

    def send(self, notification: Notification) -> None:
        self.calls += 1
        self.release.wait(30)

    def close(self) -> None:
        pass


def _alert(environment: str, n: int) -> dict[str, object]:
    return {
        "environment": environment, "condition": "deployment.started", "severity": "info",
        "state": "firing", "summary": f"{environment}: v{n}: deploying",
        "occurred_at": "2026-11-30T12:00:00+00:00", "version": f"v{n}",
    }  # fmt: skip


def test_migration_0006_upgrades_and_downgrades(registry_url: str) -> None:
    from safeship.registry.engine import open_engine, parse_url, writer

    with Registry(registry_url) as registry:
        registry.enqueue_alert(_alert("prod", 1), [["slack"]], stateful=False, repeat_interval=0)
    engine = open_engine(parse_url(registry_url))
    try:
        with writer(engine).begin() as connection:
            command.downgrade(alembic_config(connection), "0005")
        with engine.connect() as connection:
            tables = set(sa.inspect(connection).get_table_names())
            assert {"notifications", "alert_states"}.isdisjoint(tables)
            assert "deployments" in tables
        with writer(engine).begin() as connection:
            command.upgrade(alembic_config(connection), "head")
        with engine.connect() as connection:
            assert {"notifications", "alert_states"} <= set(
                sa.inspect(connection).get_table_names()
            )
            revision = connection.execute(sa.text("SELECT version_num FROM alembic_version"))
            assert revision.scalar_one() == HEAD
    finally:
        engine.dispose()


def test_two_dispatchers_racing_deliver_each_row_exactly_once(registry_url: str) -> None:
    with Registry(registry_url) as registry:
        for n in range(48):
            registry.enqueue_alert(
                _alert(f"env{n % 4}", n), [["slack"], ["email"]], stateful=False,
                repeat_interval=0,
            )  # fmt: skip
    slack, email = Collector(), Collector()
    registries = [Registry(registry_url), Registry(registry_url)]
    try:
        dispatchers = [
            Dispatcher(r, {"slack": slack, "email": email}, QUICK, holder=f"p{i}")
            for i, r in enumerate(registries)
        ]
        racers = [threading.Thread(target=d.close, args=(20.0,)) for d in dispatchers]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join(30)
        counts = registries[0].outbox_counts()
    finally:
        for r in registries:
            r.close()
    for channel in (slack, email):
        assert len(channel.ids) == 48
        assert set(collections.Counter(channel.ids).values()) == {1}
        assert channel.messages == 4  # a group (channel, environment) is claimed whole
    assert counts == {"pending": 0, "delivered": 96, "failed": 0, "dropped": 0}


KILLED = """
import os, sys, time
from pathlib import Path
from safeship.alerts.dispatcher import Dispatcher
from safeship.alerts.routing import routes_from
from safeship.alerts.settings import AlertSettings
from safeship.alerts.sink import AlertSink
from safeship.events.model import Event
from safeship.notify.console import ConsoleNotifier
from safeship.registry import Registry

registry = Registry(sys.argv[1])
# Killed before anything is ripe; or (a FIFO as its file) mid-send, its rows claimed.
settings = AlertSettings(group_wait=float(sys.argv[2]))
channel = ConsoleNotifier(Path(sys.argv[3]) if len(sys.argv) > 3 else None)
dispatcher = Dispatcher(registry, {"console": channel}, settings)
dispatcher.start()
sink = AlertSink(registry, routes_from([], ["console"]), settings, dispatcher)
sink.handle(Event(event="rollback.triggered", environment="production", version="v2",
                  attributes={"reason": "error rate 12.0% > 5.0%", "rule": "health"}))
print("written", flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("when", ["before sending", "mid-send"])
def test_a_rollback_alert_written_by_a_killed_process_is_delivered_once(
    registry_url: str, tmp_path: Path, when: str
) -> None:
    args = [registry_url, "60"]
    if when == "mid-send":  # its channel hangs: writing into a FIFO nobody reads
        fifo = tmp_path / "hang.fifo"
        os.mkfifo(fifo)
        args = [registry_url, "0", str(fifo)]
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(KILLED), *args],
        stdout=subprocess.PIPE, text=True, env=os.environ.copy(),
    )  # fmt: skip
    try:
        assert child.stdout is not None and child.stdout.readline() == "written\n"
        with Registry(registry_url) as registry:
            if when == "mid-send":  # wait (bounded) until the child has claimed the row
                deadline = time.monotonic() + 10
                while not any(g.claimed_by for g in registry.outbox_groups()):
                    assert time.monotonic() < deadline, "the child never claimed its row"
                    time.sleep(0.02)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    out = tmp_path / "alerts.jsonl"
    with Registry(registry_url) as registry:
        assert registry.outbox_counts()["pending"] == 1
        started = time.monotonic()
        for _ in range(2):  # the next process, and the one after: delivered once
            Dispatcher(registry, {"console": ConsoleNotifier(out)}, QUICK).close(5.0)
        took = time.monotonic() - started
        counts = registry.outbox_counts()
    (line,) = out.read_text().splitlines()
    assert '"condition": "rollback.triggered"' in line and "error rate 12.0%" in line
    assert counts["delivered"] == 1 and counts["pending"] == 0
    assert (out.stat().st_mode & 0o777) == 0o600
    assert took < 5.0  # a dead holder's claim (30 s lease) is not waited out


def test_hanging_channels_neither_slow_a_rollback_nor_lose_its_alerts(
    registry_url: str, tmp_path: Path
) -> None:
    # Five rolled-back deployments. Each rollback.triggered raises itself (critical: slack,
    # email, pagerduty, webhook) and error_rate.high (error: slack, email, webhook); each
    # deployment.failed (rolled back, critical) goes to all five channels (pagerduty as a change
    # event, github-issue as its issue): 12 rows a deployment.
    ids = [str(uuid.uuid4()) for _ in range(5)]
    events = [
        event
        for n, deployment in enumerate(ids)
        for event in (
            Event(event="rollback.triggered", environment="production", version=f"v{n}",
                  deployment_id=deployment, attributes={"reason": "errors", "rule": "error_rate"}),
            Event(event="deployment.failed", environment="production", version=f"v{n}",
                  deployment_id=deployment, attributes={"status": "rolled_back"}),
        )
    ]  # fmt: skip
    release = threading.Event()

    dispatchers: list[Dispatcher] = []

    def publish(registry: Registry, channels: dict[str, Hanging]) -> float:
        routes = routes_from([], ["slack", "email", "pagerduty", "webhook", "github-issue"])
        dispatcher = Dispatcher(registry, channels, QUICK, lease=1.0)
        dispatchers.append(dispatcher)
        dispatcher.start()
        sink = AlertSink(registry, routes, QUICK, dispatcher)
        started = time.monotonic()
        for event in events:
            sink.handle(event)
            time.sleep(0.05)  # the dispatcher's threads are sending (hanging) meanwhile
        took = time.monotonic() - started
        closing = time.monotonic()
        dispatcher.close(0.5)
        assert time.monotonic() - closing < 1.5  # bounded, whatever the channels do
        return took

    with Registry(registry_url) as registry:
        quiet = publish(registry, {})
    with Registry(registry_url) as registry:
        names = ["slack", "email", "pagerduty", "webhook", "github-issue"]
        hanging = {name: Hanging(release) for name in names}
        loud = publish(registry, hanging)
        assert all(h.calls >= 1 for h in hanging.values())
        assert loud < quiet + 0.5  # the deploy's thread only writes the outbox
        time.sleep(1.1)  # the hung holder's lease lapses; the next process sends it all
        out = tmp_path / "alerts.jsonl"
        console = ConsoleNotifier(out)
        Dispatcher(registry, dict.fromkeys(names, console), QUICK).close(10.0)
        release.set()  # the hung sends return: their rows are no longer theirs to mark
        dispatchers[-1].close(2.0)  # (and they are done before the database goes)
        counts = registry.outbox_counts()
    # The quiet run's rows (no channel in that process) and the loud run's: 2 x 5 x 12.
    assert counts == {"pending": 0, "delivered": 120, "failed": 0, "dropped": 0}
    sent = [a["id"] for line in out.read_text().splitlines() for a in json.loads(line)["alerts"]]
    assert len(sent) == 120 and len(set(sent)) == 120
