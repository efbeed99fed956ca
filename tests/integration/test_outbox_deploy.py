"""Alerts from a real rolled-back deploy (the demo service, the router, the registry), through
``open_session``'s wiring and the console channel: the rollback reaches a channel within 2 s,
while another channel hangs (a console channel writing into a FIFO nobody reads), and the
rollback takes no longer than without any channel."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from safeship._processes import free_port
from safeship.config import load_config
from safeship.pipeline import operations
from safeship.pipeline.states import Status
from safeship.registry import Registry
from testing.fixtures import ENV, Workspace

WorkspaceFactory = Callable[..., Workspace]

# The console channel under two names, registered as a plugin would (a .dist-info on
# sys.path): the installed safeship may predate its entry point.
ENTRY_POINTS = """\
[safeship.notifiers]
console = safeship.notify.console:ConsoleNotifier
fifo = safeship.notify.console:ConsoleNotifier
"""

CHANNELS = """
[alerts]
production = ["local"]
close_timeout = 1.0

[notify.console]
file = "{file}"

[notify.fifo]
file = "{fifo}"
"""


@pytest.fixture
def console_channels(tmp_path: Path) -> Iterator[None]:
    site = tmp_path / "site"
    dist = site / "safeship_alerts_channels-0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: safeship-alerts-channels\n")
    (dist / "entry_points.txt").write_text(ENTRY_POINTS)
    sys.path.insert(0, str(site))
    try:
        yield
    finally:
        sys.path.remove(str(site))


def _rollback_seconds(registry: Registry, deployment_id: str) -> float:
    """From the rollback's trigger to the deployment's failed event (traffic is back and the
    record is final by then)."""
    times = {e.name: e.timestamp for e in registry.events(deployment_id)}
    return (times["deployment.failed"] - times["rollback.triggered"]).total_seconds()


def test_a_rollback_alert_arrives_within_2_s_while_another_channel_hangs(
    workspace_factory: WorkspaceFactory, console_channels: None, tmp_path: Path
) -> None:
    behaviour = "unhealthy_after=0.8"
    ws = workspace_factory(behaviours={"v2": behaviour, "v3": behaviour}, bake_time=0.2)
    assert operations.deploy(ws.loaded, ENV, "v1").ok  # a first deploy bakes too: quickly
    ws.set_bake_time(2.0)
    alerts, fifo = tmp_path / "alerts.jsonl", tmp_path / "hang.fifo"
    os.mkfifo(fifo)
    loud_file = ws.root / "loud.toml"
    loud_file.write_text(
        (ws.root / "safeship.toml").read_text() + CHANNELS.format(file=alerts, fifo=fifo)
    )
    loud = load_config(loud_file)
    quiet_outcome = operations.deploy(ws.loaded, ENV, "v2")  # no channel configured
    assert quiet_outcome.status is Status.ROLLED_BACK

    seen: dict[str, float] = {}
    stop = threading.Event()

    def watch() -> None:  # when the rollback's line lands in the file
        while not stop.is_set() and "rollback" not in seen:
            if alerts.exists() and '"rollback.triggered"' in alerts.read_text():
                seen["rollback"] = time.time()
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        started = time.monotonic()
        outcome = operations.deploy(loud, ENV, "v3")
        took = time.monotonic() - started
        watcher.join(5)
    finally:
        stop.set()
        # Let the hung send go (its open() returns; the write then fails: no reader left).
        os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
    assert outcome.status is Status.ROLLED_BACK and outcome.deployment_id is not None
    with Registry(ws.loaded.registry_url()) as registry:
        quiet = _rollback_seconds(registry, quiet_outcome.deployment_id)
        loud_rollback = _rollback_seconds(registry, outcome.deployment_id)
        (triggered,) = [
            e for e in registry.events(outcome.deployment_id) if e.name == "rollback.triggered"
        ]
        counts = registry.outbox_counts()
    assert loud_rollback < quiet + 0.5  # the hanging channel cost the rollback nothing
    assert took < 30.0
    assert seen["rollback"] - triggered.timestamp.timestamp() < 2.0
    lines = alerts.read_text().splitlines()
    assert any('"critical"' in line and '"rollback.triggered"' in line for line in lines)
    # The hanging channel's alerts are kept for the next process, not lost.
    assert counts["pending"] >= 1 and counts["failed"] == 0


NOTIFY_CONFIG = """\
[environments.production]
port = {port}
target = {{ type = "local", command = ["python", "app.py"] }}

[notify.console]
file = "{file}"

[notify.fifo]
file = "{directory}"
"""


def test_notify_test_flush_and_status(
    console_channels: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from safeship import core
    from safeship.cli import notify_cmd
    from safeship.events.model import Event

    out = tmp_path / "alerts.jsonl"
    config = tmp_path / "safeship.toml"
    # The "fifo" channel writes to a directory: every attempt fails, in one line.
    config.write_text(NOTIFY_CONFIG.format(port=free_port(), file=out, directory=tmp_path))
    assert notify_cmd.run_test(config, None) == 1
    assert capsys.readouterr().out.splitlines() == [
        "console: ok",
        f"fifo: cannot write {tmp_path}: Is a directory",
    ]
    assert notify_cmd.run_test(config, "console") == 0
    assert notify_cmd.run_test(config, "pagerduty") == 2
    assert "no channel 'pagerduty' is configured (configured: console, fifo)" in (
        capsys.readouterr().out
    )
    sent = [json.loads(line) for line in out.read_text().splitlines()]
    assert [m["alerts"][0]["condition"] for m in sent] == ["test", "test"]

    # A rollback alert left pending (its process had no channel that could run): flushed.
    loaded = load_config(config)
    with Registry(loaded.registry_url()) as registry:
        from safeship.alerts.routing import routes_from
        from safeship.alerts.sink import AlertSink

        sink = AlertSink(registry, routes_from([], ["console"]), loaded.config.alerts)
        sink.handle(Event(event="rollback.triggered", environment="production", version="v2"))
    assert core.notify_status(loaded).counts["pending"] == 1
    assert notify_cmd.run_flush(config, 5.0) == 0
    assert capsys.readouterr().out.splitlines() == ["pending 0 delivered 1 failed 0 dropped 0"]
    assert '"rollback.triggered"' in out.read_text().splitlines()[-1]
