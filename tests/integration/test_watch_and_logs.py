"""`safeship watch` and `safeship logs` against the demo service on the local target: the
conditions a serving release gets into between deploys (its error rate, its latency against
the stored baseline, its health) begin and clear as events; the registry's events come back as
the structured deployment log, one JSON document per line."""

from __future__ import annotations

import io
import json
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from safeship import core
from safeship.cli import deploy_cmd, logs_cmd, rollback_cmd, watch_cmd
from safeship.pipeline import operations
from safeship.registry import Registry
from safeship.registry.records import BaselineRecord
from testing.fixtures import ENV, Workspace

WorkspaceFactory = Callable[..., Workspace]
DOCUMENT_KEYS = [
    "timestamp", "event", "environment", "version", "commit", "triggered_by", "deployment_id",
    "attributes",
]  # fmt: skip


def check_once(ws: Workspace) -> core.WatchReport:
    reports: list[core.WatchReport] = []
    assert core.watch(ws.loaded, ENV, once=True, on_report=reports.append) == 1
    return reports[0]


def watch_events(ws: Workspace) -> list[tuple[str, dict[str, Any]]]:
    log = core.deployment_log(ws.loaded, core.LogQuery(ENV, limit=1000))
    return [(e.event, e.attributes) for e in log if e.event.startswith("watch.")]


def send(ws: Workspace, count: int) -> None:
    with httpx.Client(timeout=5) as http:
        for _ in range(count):
            http.get(f"{ws.url}/api/v1/items")


def save_baseline(ws: Workspace, version: str, p95_ms: float) -> None:
    with Registry(ws.loaded.registry_url()) as registry:
        registry.save_baseline(
            BaselineRecord(
                environment=ENV, version=version, path="/api/v1/items", sample_count=50,
                errors=0, error_rate=0.0, mean_ms=p95_ms / 2, p50_ms=p95_ms / 2, p95_ms=p95_ms,
                p99_ms=p95_ms,
            )
        )  # fmt: skip


def test_conditions_begin_once_and_clear_between_deploys(
    workspace_factory: WorkspaceFactory, capsys: Any
) -> None:
    ws = workspace_factory(
        behaviours={"v1": "error_rate=0.2,latency_ms=30", "v2": "healthy"},
        bake_time=0.5,
        steps=(100,),
    )
    # Nothing deployed: nothing to check.
    assert check_once(ws).skipped == "nothing deployed yet"
    assert operations.deploy(ws.loaded, ENV, "v1").ok  # no load during the deploy: it passes
    save_baseline(ws, "v1", p95_ms=10.0)

    first = check_once(ws)  # healthy, and no traffic to judge yet: no event
    assert first.version == "v1" and first.healthy and first.error_rate is None
    assert first.health and all(r.ok for r in first.health)
    assert watch_events(ws) == []

    send(ws, 20)
    degraded = check_once(ws)
    assert set(degraded.began) == {"error_rate.high", "latency.high"}
    events = dict(watch_events(ws))  # one per condition
    assert [name for name, _ in watch_events(ws)] == ["watch.degraded", "watch.degraded"]
    by_condition = {a["condition"]: a for _, a in watch_events(ws)}
    rate = by_condition["error_rate.high"]
    assert (rate["requests"], rate["errors"], rate["error_rate"]) == (20, 4, 0.2)
    assert rate["threshold"] == 0.05 and events
    latency = by_condition["latency.high"]
    assert latency["baseline_p95_ms"] == 10.0 and latency["ratio"] > 2.0
    assert latency["p95_ms"] >= 25

    # A new watcher (a restart, or cron's next --once) knows they are already reported.
    again = check_once(ws)
    assert set(again.active) == {"error_rate.high", "latency.high"} and again.began == ()
    assert len(watch_events(ws)) == 2

    assert operations.deploy(ws.loaded, ENV, "v2").ok
    save_baseline(ws, "v2", p95_ms=10.0)
    send(ws, 20)
    recovered = check_once(ws)
    assert recovered.version == "v2" and recovered.healthy
    assert set(recovered.cleared) == {"error_rate.high", "latency.high"}
    cleared = [(n, a["condition"]) for n, a in watch_events(ws)[2:]]
    assert sorted(cleared) == [
        ("watch.recovered", "error_rate.high"),
        ("watch.recovered", "latency.high"),
    ]

    # The serving release dies between deploys: its health checks fail.
    (pid,) = {r.pid for r in ws.environment().target.releases() if r.version == "v2"}
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    down = check_once(ws)
    assert down.began == ("health.degraded",)
    name, attributes = watch_events(ws)[-1]
    assert name == "watch.degraded" and attributes["condition"] == "health.degraded"
    assert attributes["status"] == "unhealthy"
    # Whether the target still lists the killed process depends on when it is reaped.
    details = {c["detail"] for c in attributes["checks"] if c["status"] == "failed"}
    assert details & {"v2 is not running", "connection refused"}, details
    line = watch_cmd.describe(down)
    assert "degraded: health.degraded (began)" in line
    # The command: one line per check; exit 1 while a condition is in force (for cron).
    assert watch_cmd.run(ws.root / "safeship.toml", ENV, None, once=True) == 1
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 1 and f"{ENV} v2: degraded: health.degraded |" in printed[0]
    assert len(watch_events(ws)) == 5  # still in force: not published again

    # `safeship rollback --log-format json`: the rollback's events on stdout as JSON lines.
    assert rollback_cmd.run(ws.root / "safeship.toml", ENV, "json") == 0
    captured = capsys.readouterr()
    streamed = [json.loads(line) for line in captured.out.splitlines()]
    assert streamed[0]["event"] == "deployment.started" and streamed[0]["version"] == "v1"
    assert streamed[-1]["event"] == "deployment.succeeded"
    assert {d["triggered_by"] for d in streamed} == {"rollback"}
    assert "v1 succeeded" in captured.err


def test_the_deployment_log_one_document_per_line(
    workspace_factory: WorkspaceFactory, capsys: Any
) -> None:
    ws = workspace_factory(bake_time=0.2, steps=(100,))
    config = ws.root / "safeship.toml"
    # --log-format json: the events on stdout as JSON lines, the outcome line on stderr.
    request = core.DeployRequest(ENV, "v1", "c" * 40, "ci", core.DeployMode.LOCAL)
    assert deploy_cmd.run(config, request, "json") == 0
    streamed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert streamed[0]["event"] == "deployment.started"
    assert streamed[-1]["event"] == "deployment.succeeded"
    (outcome,) = core.history(ws.loaded, core.HistoryQuery(ENV, 1))
    assert {d["deployment_id"] for d in streamed} == {outcome.id}

    out = io.StringIO()
    assert logs_cmd.run(config, core.LogQuery(ENV), out=out) == 0
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines[0]["event"] == "deployment.started"
    assert lines[-1]["event"] == "deployment.succeeded"
    for document in lines:
        assert list(document) == DOCUMENT_KEYS
        assert document["environment"] == ENV and document["version"] == "v1"
        assert document["commit"] == "c" * 40 and document["triggered_by"] == "ci"
        assert document["deployment_id"] == outcome.id
        assert document["timestamp"].endswith("Z")
    stages = [d["attributes"].get("stage") for d in lines if d["event"] == "stage.started"]
    assert stages == ["approval", "deploy", "verify"]  # the approval gate: skipped

    out = io.StringIO()
    prefix = outcome.id.replace("-", "")[:8]
    query = core.LogQuery(ENV, deployment=prefix, since="1h", limit=2)
    assert logs_cmd.run(config, query, out=out) == 0
    assert [json.loads(line) for line in out.getvalue().splitlines()] == lines[-2:]

    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    out = io.StringIO()
    assert logs_cmd.run(config, core.LogQuery(ENV, since=later), out=out) == 0
    assert out.getvalue() == ""

    assert logs_cmd.run(config, core.LogQuery(ENV, since="yesterday"), out=out) == 2
    assert "--since: 'yesterday' is neither a duration" in capsys.readouterr().err

    # --follow prints what is written after the last line shown, until stopped.
    out, stop = io.StringIO(), threading.Event()
    follower = threading.Thread(
        target=logs_cmd.run,
        args=(config, core.LogQuery(ENV, limit=1)),
        kwargs={"follow": True, "out": out, "interval": 0.05, "stop": stop},
    )
    follower.start()
    try:
        # The follower shows the newest entry first; the new one only after that.
        deadline = time.monotonic() + 5
        while "\n" not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.02)
        with Registry(ws.loaded.registry_url()) as registry:
            registry.add_event(
                None, "watch.degraded", datetime.now(UTC),
                {"environment": ENV, "version": "v1", "attributes": {"condition": "latency.high"}},
            )  # fmt: skip
        deadline = time.monotonic() + 5
        while out.getvalue().count("\n") < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        follower.join(5)
    followed = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [d["event"] for d in followed] == ["deployment.succeeded", "watch.degraded"]
    assert followed[1]["attributes"] == {"condition": "latency.high"}
    assert followed[1]["deployment_id"] is None and followed[1]["environment"] == ENV

    # Every watch loop is bounded: --for with a short interval.
    reports: list[core.WatchReport] = []
    started = time.monotonic()
    checks = core.watch(ws.loaded, ENV, interval=0.05, duration="1s", on_report=reports.append)
    took = time.monotonic() - started
    # At least two checks (a check takes up to a few tenths of a second on a busy machine); it
    # stops at --for (plus the one check running then).
    assert 2 <= checks <= 21 and len(reports) == checks
    assert took < 2.5, took
    # Right after a deploy, the elevated interval applies ([watch] defaults: 10 s, then 60 s).
    assert {r.next_interval for r in reports} == {10.0}
    assert all(r.healthy and r.version == "v1" for r in reports)
