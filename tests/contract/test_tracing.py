"""Deployments as OpenTelemetry traces, exported over OTLP/HTTP to a loopback receiver
(otlp_receiver.py): one root per deployment, a child span per stage, the semantic-convention
attributes, error status on a rollback; and nothing at all when the variables are unset."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from otlp_receiver import OTLPReceiver, ReceivedSpan

from safeship.events import Event, EventBus, EventName, tracing
from safeship.events.tracing import tracing_enabled, tracing_sink
from safeship.pipeline import operations
from testing.fixtures import ENV, Workspace

WorkspaceFactory = Callable[..., Workspace]
OTEL_VARIABLES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER",
    "OTEL_SERVICE_NAME",
)
SERVER, INTERNAL = 2, 1  # the protobuf's SpanKind values


@pytest.fixture
def otlp(monkeypatch: pytest.MonkeyPatch) -> Iterator[OTLPReceiver]:
    for name in OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    receiver = OTLPReceiver()
    receiver.start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    try:
        yield receiver
    finally:
        receiver.stop()


def by_trace(spans: list[ReceivedSpan]) -> dict[str, list[ReceivedSpan]]:
    traces: dict[str, list[ReceivedSpan]] = {}
    for span in spans:
        traces.setdefault(span.trace_id, []).append(span)
    return traces


def root_of(spans: list[ReceivedSpan]) -> ReceivedSpan:
    roots = [s for s in spans if not s.parent_span_id]
    assert len(roots) == 1, [s.name for s in roots]
    return roots[0]


def test_a_promoted_and_a_rolled_back_deploy_are_two_traces(
    otlp: OTLPReceiver, workspace_factory: WorkspaceFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "shop-deployer")
    ws = workspace_factory(behaviours={"v2": "crash_after=0.3"}, bake_time=1.0, steps=(50, 100))
    assert operations.deploy(ws.loaded, ENV, "v1", commit="a" * 40, triggered_by="ci").ok
    outcome = operations.deploy(ws.loaded, ENV, "v2", commit="b" * 40, triggered_by="alice")
    assert outcome.status.value == "rolled_back"

    # The session's close flushed them: they are at the receiver already.
    traces = list(by_trace(otlp.spans()).values())
    assert len(traces) == 2
    assert all(path == "/v1/traces" for path in otlp.paths)
    assert set(otlp.content_types) == {"application/x-protobuf"}
    good, bad = sorted(traces, key=lambda t: root_of(t).start_ns)

    root = root_of(good)
    assert root.name == f"deploy {ENV}" and root.kind == SERVER
    assert root.resource["service.name"] == "shop-deployer"
    assert root.attributes["deployment.environment.name"] == ENV
    assert root.attributes["deployment.name"] == "v1"
    assert root.attributes["deployment.status"] == "succeeded"
    assert root.attributes["vcs.ref.head.revision"] == "a" * 40
    assert root.attributes["cicd.pipeline.name"] == f"deploy {ENV}"
    assert root.attributes["cicd.pipeline.result"] == "success"
    assert root.attributes["cicd.pipeline.run.id"] == root.attributes["deployment.id"]
    assert root.attributes["safeship.triggered_by"] == "ci"
    assert not root.is_error
    children = [s for s in good if s is not root]
    # The first deploy has no stable release: all traffic at once, no canary step to bake.
    assert [s.name for s in children] == ["deploy", "verify", "canary 100%"]
    for child in children:
        assert child.parent_span_id == root.span_id and child.kind == INTERNAL
        assert child.attributes["cicd.pipeline.task.run.result"] == "success"
        assert root.start_ns <= child.start_ns <= child.end_ns <= root.end_ns
    verify = children[1]
    checks = [attrs for name, attrs in verify.events if name == "check.completed"]
    assert checks and all(c["safeship.status"] == "ok" for c in checks)
    assert verify.attributes["cicd.pipeline.task.type"] == "test"

    root = root_of(bad)
    assert root.is_error and root.status_message == outcome.reason
    assert root.attributes["deployment.status"] == "failed"
    assert root.attributes["cicd.pipeline.result"] == "failure"
    assert root.attributes["error.type"] == "rolled_back"
    names = [s.name for s in bad if s is not root]
    assert names[:3] == ["deploy", "verify", "canary 50%"] and names[-1] == "rollback"
    step = next(s for s in bad if s.name == "canary 50%")
    assert step.is_error and step.attributes["cicd.pipeline.task.run.result"] == "failure"
    assert step.attributes["safeship.weights"] == json.dumps({"v1": 50, "v2": 50})
    rollback = next(s for s in bad if s.name == "rollback")
    assert rollback.parent_span_id == root.span_id and not rollback.is_error
    assert rollback.attributes["safeship.reason"] == outcome.reason
    assert {s.trace_id for s in bad} == {root.trace_id}


def event(name: EventName, at: datetime, **attributes: Any) -> Event:
    return Event(
        event=name, deployment_id="d-1", environment="production", version="v7",
        timestamp=at, attributes=attributes,
    )  # fmt: skip


def test_a_span_never_carries_a_secret_and_a_cut_short_deploy_still_ends(
    otlp: OTLPReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from safeship.redaction import redact, register_secret

    secret = "s3cr3t-token-value-0042"
    register_secret(secret)
    api_key = "collector-key-8f3a2b"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"x-api-key={api_key}")
    sink = tracing_sink()
    assert redact(f"key {api_key}") == "key ****"  # the collector's key is a secret too
    assert sink is not None
    bus = EventBus([sink])
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    bus.publish(event("deployment.started", t0))
    bus.publish(event("stage.started", t0 + timedelta(seconds=1), stage="deploy"))
    bus.publish(
        event("stage.failed", t0 + timedelta(seconds=2), stage="deploy", reason=f"token {secret}")
    )
    sink.close()  # no ending event: the session closed (safeship was stopped)
    assert bus.failures == 0
    spans = otlp.spans()
    assert secret not in repr(spans)
    root = root_of(spans)
    assert root.is_error and root.status_message == "session closed"
    deploy = next(s for s in spans if s.name == "deploy")
    assert deploy.is_error and "****" in deploy.status_message
    assert deploy.end_ns - deploy.start_ns == 1_000_000_000
    assert set(otlp.api_keys) == {api_key}


def test_a_hanging_collector_never_delays_the_deploy_and_the_close_is_bounded(
    otlp: OTLPReceiver, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "10")  # export at once, into the hang
    monkeypatch.setattr(tracing, "FLUSH_TIMEOUT", 0.5)
    otlp.hang_seconds = 3.0
    sink = tracing_sink()
    assert sink is not None
    bus = EventBus([sink])
    t0 = datetime.now(UTC)
    started = time.monotonic()
    for index in range(200):
        deployment = f"d-{index}"
        for name in ("deployment.started", "rollback.triggered", "deployment.failed"):
            bus.publish(event(name, t0).model_copy(update={"deployment_id": deployment}))
    publishing = time.monotonic() - started
    started = time.monotonic()
    sink.close()
    closing = time.monotonic() - started
    assert publishing < 0.5, publishing
    assert closing < 1.0, closing
    # One line says so; the exporter's own retry warnings are not shown.
    assert capsys.readouterr().err == (
        "safeship: traces: not sent within 0.5s by the OTLP collector\n"
    )


@pytest.mark.parametrize(
    ("variables", "enabled"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318", "OTEL_SDK_DISABLED": "TRUE"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "  "}, False),
    ],
)
def test_tracing_follows_the_standard_variables(variables: dict[str, str], enabled: bool) -> None:
    assert tracing_enabled(variables) is enabled


def test_without_the_variables_a_deploy_session_never_imports_opentelemetry(
    workspace_factory: WorkspaceFactory,
) -> None:
    ws = workspace_factory()
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from safeship.config import load_config\n"
        "from safeship.events import Event\n"
        "from safeship.pipeline import operations\n"
        f"loaded = load_config(Path({str(ws.root / 'safeship.toml')!r}))\n"
        f"with operations.open_session(loaded, {ENV!r}) as s:\n"
        "    s.bus.publish(Event(event='deployment.started', environment='local'))\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_an_aborted_deploy_is_a_cancelled_run_with_its_gate_and_verdicts(
    otlp: OTLPReceiver,
) -> None:
    sink = tracing_sink()
    assert sink is not None
    bus = EventBus([sink])
    t0 = datetime(2026, 1, 1, tzinfo=UTC)

    def at(seconds: float) -> datetime:
        return t0 + timedelta(seconds=seconds)

    bus.publish(event("deployment.started", at(0), strategy="canary"))
    bus.publish(event("stage.started", at(1), stage="env"))
    bus.publish(event("stage.passed", at(2), stage="env"))
    bus.publish(event("traffic.shifted", at(3), step=10, weights={"v6": 90, "v7": 10}))
    bus.publish(event("stage.passed", at(4), stage="analysis", step=10, reason="judge: pass"))
    bus.publish(event("stage.started", at(5), stage="pause", step=10, timeout=60))
    bus.publish(event("deployment.aborted", at(6), reason="aborted by alice"))
    # Events of no deployment (the environment's) and of an unknown one are left alone.
    bus.publish(event("watch.degraded", at(7)).model_copy(update={"deployment_id": None}))
    bus.publish(event("stage.started", at(7), stage="deploy").model_copy(
        update={"deployment_id": "d-unknown"}))  # fmt: skip
    sink.close()
    assert bus.failures == 0

    spans = otlp.spans()
    root = root_of(spans)
    assert [s.name for s in spans if s is not root] == ["gate", "canary 10%", "pause"]
    assert root.attributes["cicd.pipeline.result"] == "cancellation"
    assert root.attributes["deployment.status"] == "failed"
    assert root.is_error and root.status_message == "aborted by alice"
    gate, step, pause = (s for s in spans if s is not root)
    assert not gate.is_error and gate.end_ns - gate.start_ns == 1_000_000_000
    assert step.end_ns == pause.start_ns  # a step lasts until the next stage
    assert [name for name, _ in step.events] == ["stage.passed analysis"]
    assert pause.is_error and pause.end_ns == root.end_ns
