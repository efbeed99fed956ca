"""Each deployment as an OpenTelemetry trace, exported over OTLP/HTTP when asked for.

A bus sink (:class:`TraceSink`) turns a deployment's events into spans: a root span from
``deployment.started`` to its ending (``deployment.succeeded|failed|aborted``) and a child span
per stage: ``gate`` (the env gate), ``deploy``, ``verify``, one ``canary N%`` per traffic step
(``traffic.shifted`` to the next step or stage), ``pause``, ``monitoring`` and, on a rollback,
``rollback`` (``rollback.triggered`` to ``rollback.completed``). Checks become span events.

Attributes follow the OpenTelemetry semantic conventions for deployments
(``deployment.environment.name``, ``deployment.id``, ``deployment.name``,
``deployment.status``), VCS (``vcs.ref.head.revision``) and CI/CD pipelines
(``cicd.pipeline.name``, ``cicd.pipeline.run.id``, ``cicd.pipeline.result``,
``cicd.pipeline.task.*``); the rest of an event's attributes under ``safeship.``.

Tracing is off unless the standard ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (and ``OTEL_SDK_DISABLED`` is not ``true``, nor
``OTEL_TRACES_EXPORTER`` ``none``): then :func:`tracing_sink` gives None and opentelemetry
is never imported. The exporter reads the other ``OTEL_EXPORTER_OTLP_*`` variables (headers,
timeout, compression) itself; ``OTEL_SERVICE_NAME`` names the service (default ``safeship``).

Spans are made in memory and exported by the SDK's batch processor on its own thread: the
sink never waits on the collector, so a rollback is never delayed; at session close the flush
is bounded (:data:`FLUSH_TIMEOUT`). The bus hands the sink redacted events only.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from safeship.events.model import Event
from safeship.redaction import redact, register_secret

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span, Tracer

# Seconds the session's close waits for the last spans to reach the collector.
FLUSH_TIMEOUT: Final = 3.0
# Deployments followed at once by one sink (a long-lived `serve`): the oldest is dropped.
MAX_OPEN_TRACES: Final = 64
# An attribute value longer than this is cut (a reason quoting a release's output).
MAX_VALUE_LEN: Final = 1000

ENDPOINT_VARIABLES: Final = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
HEADER_VARIABLES: Final = ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS")

# A stage's span name (the env gate is the deployment's gate).
STAGE_SPANS: Final = {"env": "gate", "monitor": "monitoring"}
# cicd.pipeline.task.type: the semantic convention's values are build, test and deploy.
TASK_TYPES: Final = {"deploy": "deploy", "canary": "deploy", "rollback": "deploy"}
ENDINGS: Final = frozenset({"deployment.succeeded", "deployment.failed", "deployment.aborted"})


def tracing_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the standard OpenTelemetry variables ask for traces to be exported."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    return any(env.get(name, "").strip() for name in ENDPOINT_VARIABLES)


def tracing_sink() -> TraceSink | None:
    """A sink exporting traces over OTLP/HTTP, or None when tracing is not asked for (then
    opentelemetry is not imported)."""
    if not tracing_enabled():
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from safeship import __version__

    # The exporter's own log is silenced: a warning per retry, and a malformed header quoted
    # whole (an API key); the sink says in one line at close what did not reach the collector.
    logging.getLogger("opentelemetry").setLevel(logging.CRITICAL)
    for name in HEADER_VARIABLES:  # API keys for the collector: masked in any output
        for pair in os.environ.get(name, "").split(","):
            register_secret(pair.partition("=")[2].strip() or None)
    service = os.environ.get("OTEL_SERVICE_NAME", "").strip() or "safeship"
    resource = Resource.create({"service.name": service, "service.version": __version__})
    try:
        # The endpoint, headers, timeout and compression come from OTEL_EXPORTER_OTLP_*.
        exporter = OTLPSpanExporter()
    except Exception as exc:  # e.g. an unknown compression: traces are never required
        message = f"safeship: traces not exported: {type(exc).__name__}: {exc}"
        print(redact(message.splitlines()[0]), file=sys.stderr)
        return None
    counting, lost = _counting(exporter)
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(counting))
    return TraceSink(provider, lost)


def _counting(inner: SpanExporter) -> tuple[SpanExporter, Callable[[], int]]:
    """``inner``, counting the spans it could not send; and how many so far."""
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class Counting(SpanExporter):
        lost = 0

        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            try:
                result = inner.export(spans)
            except Exception:
                result = SpanExportResult.FAILURE
            if result is not SpanExportResult.SUCCESS:
                self.lost += len(spans)
            return result

        def shutdown(self) -> None:
            inner.shutdown()

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return inner.force_flush(timeout_millis)

    counting = Counting()
    return counting, lambda: counting.lost


@dataclass
class _Trace:
    """One deployment's spans while it runs."""

    root: Span
    deployment_id: str
    stages: dict[str, Span] = field(default_factory=dict)  # open stage spans by stage name
    step: Span | None = None  # the open canary step
    rollback: Span | None = None
    tasks: int = 0  # the spans made so far: each one's cicd.pipeline.task.run.id

    def current(self) -> Span:
        """The span an event (a check) belongs to: the newest open stage, else the root."""
        if self.rollback is not None:
            return self.rollback
        if self.stages:
            return next(reversed(self.stages.values()))
        return self.step or self.root


class TraceSink:
    """Turns each deployment's events into a trace (see the module's docstring)."""

    def __init__(self, provider: TracerProvider, lost: Callable[[], int] = lambda: 0) -> None:
        self._provider = provider
        self._lost = lost  # how many spans the exporter could not send so far
        self._tracer: Tracer = provider.get_tracer("safeship")
        self._traces: dict[str, _Trace] = {}
        self._lock = threading.Lock()

    def handle(self, event: Event) -> None:
        if event.deployment_id is None:  # environment-level events (paths, watch): no trace
            return
        with self._lock:
            self._handle(event)

    def close(self) -> None:
        """End what is still open (a deploy cut short) and flush, waiting at most
        FLUSH_TIMEOUT seconds (the SDK's own flush does not honour a timeout)."""
        from opentelemetry.trace import Status, StatusCode

        with self._lock:
            for trace in list(self._traces.values()):
                self._end_all(trace, None, Status(StatusCode.ERROR, "session closed"))
            self._traces.clear()

        def flush() -> None:
            self._provider.force_flush()
            self._provider.shutdown()

        worker = threading.Thread(target=flush, name="safeship-otlp-flush", daemon=True)
        worker.start()
        worker.join(FLUSH_TIMEOUT)
        lost = self._lost()
        if worker.is_alive() or lost:
            why = f"{lost} span(s) not accepted" if lost else f"not sent within {FLUSH_TIMEOUT:g}s"
            print(f"safeship: traces: {why} by the OTLP collector", file=sys.stderr)

    # -- the events --------------------------------------------------------------------------

    def _handle(self, event: Event) -> None:
        from opentelemetry.trace import Status, StatusCode

        assert event.deployment_id is not None
        name = event.event
        if name == "deployment.started":
            self._start(event)
            return
        trace = self._traces.get(event.deployment_id)
        if trace is None:  # its start was before this sink (a takeover): nothing to attach to
            return
        at = _ns(event.timestamp)
        stage = str(event.attributes.get("stage", ""))
        if name == "stage.started":
            self._end_step(trace, at)
            trace.stages[stage] = self._child(trace, stage, event)
        elif name in ("stage.passed", "stage.failed"):
            span = trace.stages.pop(stage, None)
            if span is None:  # a verdict with no span of its own (the judge's pass): an event
                trace.current().add_event(f"{name} {stage}", _attributes(event), at)
                return
            span.set_attributes(_attributes(event))
            _finish(span, name == "stage.passed", str(event.attributes.get("reason", "")), at)
        elif name == "traffic.shifted":
            self._end_step(trace, at)
            trace.step = self._child(trace, "canary", event)
        elif name == "check.completed":
            trace.current().add_event(name, _attributes(event), at)
        elif name == "rollback.triggered":
            reason = str(event.attributes.get("reason", ""))
            failed = Status(StatusCode.ERROR, _cut(reason))
            for span in [*trace.stages.values(), *([trace.step] if trace.step else [])]:
                span.set_attribute("cicd.pipeline.task.run.result", "failure")
                span.set_status(failed)
                span.end(at)
            trace.stages.clear()
            trace.step = None
            trace.rollback = self._child(trace, "rollback", event)
        elif name == "rollback.completed":
            if trace.rollback is not None:
                trace.rollback.set_attributes(_attributes(event))
                _finish(trace.rollback, True, "", at)
                trace.rollback = None
        elif name in ENDINGS:
            self._end(trace, event)
        else:
            trace.current().add_event(name, _attributes(event), at)

    def _start(self, event: Event) -> None:
        from opentelemetry.trace import SpanKind

        assert event.deployment_id is not None
        if len(self._traces) >= MAX_OPEN_TRACES:
            oldest = next(iter(self._traces))
            self._end_all(self._traces.pop(oldest), None, None)
        attributes = event.otel_attributes() | {
            "deployment.name": event.version or "",
            "cicd.pipeline.name": f"deploy {event.environment}",
            "cicd.pipeline.run.id": event.deployment_id,
        }
        if event.version:
            attributes["safeship.version"] = event.version
        if event.triggered_by:
            attributes["safeship.triggered_by"] = event.triggered_by
        root = self._tracer.start_span(
            f"deploy {event.environment}",
            kind=SpanKind.SERVER,  # the semantic conventions' kind for a pipeline run
            attributes=_attributes_of(attributes),
            start_time=_ns(event.timestamp),
        )
        self._traces[event.deployment_id] = _Trace(root, event.deployment_id)

    def _child(self, trace: _Trace, kind: str, event: Event) -> Span:
        from opentelemetry.trace import set_span_in_context

        trace.tasks += 1
        if kind == "canary":
            name = f"canary {event.attributes.get('step')}%"
        else:
            name = STAGE_SPANS.get(kind, kind)
        attributes = {
            "cicd.pipeline.task.name": name,
            "cicd.pipeline.task.run.id": f"{trace.deployment_id}/{trace.tasks}",
            "cicd.pipeline.task.type": TASK_TYPES.get(kind, "test"),
            "deployment.environment.name": event.environment,
            "deployment.id": trace.deployment_id,
        } | _attributes(event)
        return self._tracer.start_span(
            name,
            context=set_span_in_context(trace.root),
            attributes=_attributes_of(attributes),
            start_time=_ns(event.timestamp),
        )

    def _end_step(self, trace: _Trace, at: int) -> None:
        """A canary step lasts until the next step or stage: it passed."""
        if trace.step is not None:
            _finish(trace.step, True, "", at)
            trace.step = None

    def _end(self, trace: _Trace, event: Event) -> None:
        from opentelemetry.trace import Status, StatusCode

        self._traces.pop(trace.deployment_id, None)
        succeeded = event.event == "deployment.succeeded"
        final = str(event.attributes.get("status") or event.event.removeprefix("deployment."))
        reason = str(event.attributes.get("reason", ""))
        result = {
            "deployment.succeeded": "success",
            "deployment.failed": "failure",
            "deployment.aborted": "cancellation",
        }[event.event]
        trace.root.set_attributes(
            {
                "deployment.status": "succeeded" if succeeded else "failed",
                "cicd.pipeline.result": result,
                "safeship.status": final,
            }
        )
        status = None
        if not succeeded:
            trace.root.set_attribute("error.type", final)
            status = Status(StatusCode.ERROR, _cut(reason) or final)
        at = _ns(event.timestamp)
        self._end_all(trace, at, status)

    def _end_all(self, trace: _Trace, at: int | None, status: Any) -> None:
        """End every span still open, then the root (``status``: the root's, None for OK)."""
        children = [*trace.stages.values(), *(s for s in (trace.step, trace.rollback) if s)]
        for span in children:
            if status is None:
                _finish(span, True, "", at)
            else:
                span.set_attribute("cicd.pipeline.task.run.result", "failure")
                span.set_status(status)
                span.end(at)
        trace.stages.clear()
        trace.step = trace.rollback = None
        if status is not None:
            trace.root.set_status(status)
        trace.root.end(at)


def _finish(span: Span, ok: bool, reason: str, at: int | None) -> None:
    from opentelemetry.trace import Status, StatusCode

    span.set_attribute("cicd.pipeline.task.run.result", "success" if ok else "failure")
    if not ok:  # success leaves the status unset, as the conventions ask of instrumentation
        span.set_status(Status(StatusCode.ERROR, _cut(reason)))
    span.end(at)


def _ns(moment: datetime) -> int:
    """An event's time as OpenTelemetry's nanoseconds since the epoch."""
    return int(moment.timestamp() * 1_000_000_000)


def _attributes(event: Event) -> dict[str, Any]:
    """An event's own attributes as span attributes, under ``safeship.``."""
    return _attributes_of({f"safeship.{key}": value for key, value in event.attributes.items()})


def _attributes_of(values: Mapping[str, Any]) -> dict[str, Any]:
    """Values OpenTelemetry accepts: str, bool, int, float; anything else as JSON text."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool | int | float):
            out[key] = value
        elif isinstance(value, str):
            out[key] = _cut(value)
        else:
            out[key] = _cut(json.dumps(value, sort_keys=True, default=str))
    return out


def _cut(text: str) -> str:
    return text if len(text) <= MAX_VALUE_LEN else text[: MAX_VALUE_LEN - 1] + "…"
