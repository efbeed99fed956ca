"""The router's exposition (names, types, labels, parsed back by prometheus_client's own
parser), the PromQL templates, reading a Prometheus histogram onto the router's buckets, and
a MetricSource that reads windows (as Prometheus does) driving the bake."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from safeship.analysis.bake import Bake, BakePhase
from safeship.analysis.metrics import Counters as CountersSource
from safeship.analysis.metrics import MetricSource, RouterMetrics, metric_source
from safeship.analysis.settings import MetricSourceSettings, PrometheusQueries
from safeship.config.models import RollbackRules
from safeship.deployment_status import Status
from safeship.metrics import promql
from safeship.metrics.prometheus import PrometheusError, PrometheusMetrics, _router_buckets
from safeship.metrics.router import router_exposition
from safeship.routing.base import LATENCY_BUCKETS_MS, Backend, BackendStats
from safeship.routing.proxy.state import Counters
from testing.fakes import FakeClock, FakeRouter


def exposed_families() -> dict[str, dict[str, object]]:
    v2 = Counters()
    for ms in (1.0, 3.0, 3.0, 250.0):
        v2.record_response(200, ms)
    v2.record_response(503, 40.0)
    v2.record_connect_error()
    v2.in_flight = 2
    v1 = Counters()
    v1.record_response(404, 0.05)
    backends = [Backend("v2", "http://127.0.0.1:1", 10), Backend("v1", "http://127.0.0.1:2", 90)]
    text = router_exposition("prod", backends, {"v2": v2, "v1": v1})
    families = {}
    for family in text_string_to_metric_families(text.decode()):
        families[family.name] = {
            "type": family.type,
            "samples": [(s.name, dict(s.labels), s.value) for s in family.samples],
        }
    return families


def test_the_router_exposes_requests_durations_in_flight_and_weights_by_release() -> None:
    families = exposed_families()
    assert {name: f["type"] for name, f in families.items()} == {
        "safeship_router_requests": "counter",
        "safeship_router_request_duration_seconds": "histogram",
        "safeship_router_requests_in_flight": "gauge",
        "safeship_router_weight_ratio": "gauge",
    }
    requests = {
        (labels["release"], labels["code_class"]): value
        for name, labels, value in families["safeship_router_requests"]["samples"]  # type: ignore[attr-defined]
        if name == "safeship_router_requests_total" and labels["environment"] == "prod"
    }
    assert requests == {
        ("v2", "2xx"): 4,
        ("v2", "5xx"): 1,
        ("v2", "connect_error"): 1,
        ("v1", "4xx"): 1,
    }
    weights = {
        labels["release"]: value
        for _, labels, value in families["safeship_router_weight_ratio"]["samples"]  # type: ignore[attr-defined]
    }
    assert weights == {"v2": 0.1, "v1": 0.9}
    in_flight = families["safeship_router_requests_in_flight"]["samples"]
    assert ("safeship_router_requests_in_flight", {"environment": "prod", "release": "v2"}, 2) in (
        in_flight  # type: ignore[operator]
    )


def test_the_duration_histogram_has_the_routers_buckets_in_seconds() -> None:
    samples = exposed_families()["safeship_router_request_duration_seconds"]["samples"]
    v2 = [(n, labels, v) for n, labels, v in samples if labels["release"] == "v2"]  # type: ignore[attr-defined]
    buckets = [(float(labels["le"]), v) for n, labels, v in v2 if n.endswith("_bucket")]
    assert len(buckets) == len(LATENCY_BUCKETS_MS) + 1
    assert buckets[-1] == (float("inf"), 5)  # responses only: a connect error has no duration
    by_name = {n: v for n, labels, v in v2 if not n.endswith("_bucket")}
    assert by_name["safeship_router_request_duration_seconds_count"] == 5
    assert abs(by_name["safeship_router_request_duration_seconds_sum"] - 0.297) < 1e-9
    # Cumulative, and 3 ms is a bucket bound: two responses at 3 ms are within le=0.003.
    assert [v for _, v in buckets] == sorted(v for _, v in buckets)
    at_4ms = next(v for le, v in buckets if le >= 0.004)
    assert at_4ms == 3


def test_the_exposed_buckets_read_back_onto_the_router_buckets_exactly() -> None:
    counts = [0] * (len(LATENCY_BUCKETS_MS) + 1)
    counts[0], counts[17], counts[150], counts[-1] = 2, 5, 7, 1
    samples = router_exposition_of(counts)
    assert _router_buckets(samples) == tuple(counts)


def router_exposition_of(counts: list[int]) -> list[tuple[float, float]]:
    stats = BackendStats(requests=sum(counts), latency_buckets=tuple(counts))
    text = router_exposition("e", [], {"r": stats}).decode()
    return [
        (float(s.labels["le"]), s.value)
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name.endswith("_bucket")
    ]


def test_a_foreign_histogram_lands_in_the_router_buckets_holding_its_bounds() -> None:
    # Prometheus' default buckets (seconds): counts go where their upper bound falls.
    buckets = _router_buckets([(0.005, 10), (0.01, 30), (0.025, 30), (float("inf"), 31)])
    filled = {i: n for i, n in enumerate(buckets) if n}
    assert sum(filled.values()) == 31
    assert LATENCY_BUCKETS_MS[min(filled)] >= 5.0 > LATENCY_BUCKETS_MS[min(filled) - 1]
    assert filled[len(LATENCY_BUCKETS_MS)] == 1  # above 25 ms: the open bucket


def test_templates_fill_their_placeholders_escaped_and_once() -> None:
    query = promql.render(
        promql.REQUESTS, release='v"2\\', environment="{window}", window_seconds=2.5
    )
    assert query == (
        'sum(increase(safeship_router_requests_total{environment="{window}",'
        'release="v\\"2\\\\"}[2500ms]))'
    )
    assert promql.duration(30) == "30s" and promql.duration(0.0001) == "1ms"
    quantile = promql.render(
        promql.LATENCY_QUANTILE, release="v2", environment="prod", window_seconds=60, quantile=0.99
    )
    assert quantile.startswith("histogram_quantile(0.99, sum by (le) (rate(")
    assert "[60s]" in quantile
    for name, template in promql.TEMPLATES.items():
        for token in ("{release}", "{environment}", "{window}"):
            assert token in template, (name, token)


class Windowed:
    """A MetricSource that reads windows, not counters (as Prometheus): 100 requests a second
    for v2 with 20% errors, figured from the span between two readings."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.windows: list[tuple[float, float]] = []

    def reading(self) -> float:
        return self.clock.now()

    def window(self, start: float, end: float) -> dict[str, BackendStats]:
        self.windows.append((start, end))
        n = round(100 * (end - start))
        return {"v2": BackendStats(requests=n, responses_5xx=n // 5)}


def test_the_bake_reads_windows_between_readings_from_a_windowed_source() -> None:
    clock = FakeClock()
    source = Windowed(clock)
    assert isinstance(source, MetricSource) and metric_source(source) is source
    phase = BakePhase("v2", "v1", 10, Status.PROGRESSING, 30.0)
    outcome = Bake(source, RollbackRules(), clock=clock).run(phase)
    assert outcome.verdict is not None and outcome.verdict.rule == "error_rate"
    assert outcome.verdict.figures["error_rate"] == 0.2
    start = source.windows[0][0]
    assert all(s == start for s, _ in source.windows)  # since the bake began


def test_a_counting_source_is_read_as_differences_of_its_counters() -> None:
    router = FakeRouter(FakeClock(), backends=[Backend("v1", "", 100)])
    source = metric_source(router)
    assert isinstance(source, CountersSource)
    start = source.reading()
    router.clock.sleep(2)
    assert source.window(start, source.reading())["v1"].requests == 200
    assert RouterMetrics(router, "prod", None).totals() == router.stats()


def test_release_names_are_escaped_in_label_values() -> None:
    name = 'v"2\\x'
    stats = BackendStats(requests=1, status_classes={"2xx": 1})
    text = router_exposition('e"nv', [Backend(name, "", 100)], {name: stats}).decode()
    releases = {
        (s.labels["environment"], s.labels["release"])
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }
    assert releases == {('e"nv', name)}


def test_metric_source_settings_refuse_what_cannot_work() -> None:
    with pytest.raises(ValidationError, match="unknown metric source 'nope'"):
        MetricSourceSettings(source="nope")
    with pytest.raises(ValidationError, match="http:// or https://"):
        MetricSourceSettings(url="127.0.0.1:9090")
    with pytest.raises(ValidationError, match="must use the \\{window\\} placeholder"):
        PrometheusQueries(requests="sum(http_requests_total)")


def test_an_outage_names_the_server_without_its_credentials() -> None:
    router = FakeRouter(FakeClock(), backends=[Backend("v1", "", 100)])
    settings = MetricSourceSettings(url="http://user:s3cret@127.0.0.1:1/prom", timeout=1.0)
    with pytest.raises(PrometheusError) as raised:
        PrometheusMetrics(router, "prod", settings).window(0.0, 10.0)
    message = str(raised.value)
    assert message.startswith("Prometheus at http://127.0.0.1:1/prom: ")
    assert "s3cret" not in message and "user" not in message
