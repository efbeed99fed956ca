"""Prometheus, for real: it scrapes the builtin router's /metrics and a service exposing the
router's metric names, and the canary judge reads its figures through the PromQL templates.

One Prometheus per test worker (testing/prometheus.py); the service (``FEED``) starts with it
and counts synthetic traffic for three canaries beside their stable releases: 5 points more
errors, twice the latency, and a healthy one. Every batch has the same shape (the same
latencies, the same errors per hundred), so the healthy canary's figures match its stable
release's whatever window Prometheus cuts: the test is deterministic, not a coin toss at alpha.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from safeship._processes import free_port
from safeship.analysis.bake import Bake, BakePhase
from safeship.analysis.judge import decide, judge
from safeship.analysis.settings import JudgeSettings, MetricSourceSettings, PrometheusQueries
from safeship.config import load_config
from safeship.config.models import BuiltinRouterSettings, RollbackRules
from safeship.demo.load import LoadGenerator
from safeship.deployment_status import Status
from safeship.events import EventBus
from safeship.metrics.prometheus import PrometheusError, PrometheusMetrics
from safeship.metrics.router import CONTENT_TYPE, router_exposition
from safeship.pipeline import operations
from safeship.pipeline.deploy import Deployer
from safeship.registry import Registry
from safeship.routing.base import Backend, BackendStats
from safeship.routing.builtin import BuiltinRouter
from safeship.routing.proxy.state import Counters
from testing.fakes import FakeClock, FakeRouter
from testing.fixtures import ENV, Workspace
from testing.prometheus import PrometheusServer
from testing.services import FakeService, Reply

ENVIRONMENT = "judged"
# Per batch of 100 requests (every BATCH_INTERVAL): latencies 8-32 ms, errors per release.
BATCH = 100
BATCH_INTERVAL = 0.1
LATENCIES_MS = tuple(8 + 0.24 * i for i in range(BATCH))
# release: (5xx per hundred, latency factor)
RELEASES: dict[str, tuple[int, float]] = {
    "stable-err": (1, 1.0),
    "canary-err": (6, 1.0),  # +5 points of errors
    "stable-lat": (1, 1.0),
    "canary-lat": (1, 2.0),  # twice as slow
    "stable-ok": (1, 1.0),
    "canary-ok": (1, 1.0),  # healthy
}
WINDOW_S = 4.0


@dataclass
class Feed:
    """Synthetic router counters, counted by a thread and exposed as the router does."""

    counters: dict[str, Counters] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        deadline = time.monotonic() + 600  # bounded, whatever happens to the session
        while not self.stop.wait(BATCH_INTERVAL) and time.monotonic() < deadline:
            with self.lock:
                for name, (errors, factor) in RELEASES.items():
                    c = self.counters.setdefault(name, Counters())
                    for i, ms in enumerate(LATENCIES_MS):
                        c.record_response(503 if i < errors else 200, ms * factor)

    def read(self) -> tuple[Sequence[Backend], Mapping[str, Counters]]:
        # Copied under the lock: the exposition reads one consistent moment.
        with self.lock:
            return [], {
                name: Counters(
                    requests=c.requests,
                    responses_5xx=c.responses_5xx,
                    status_classes=dict(c.status_classes),
                    latency_buckets=list(c.latency_buckets),
                    latency_sum_ms=c.latency_sum_ms,
                )
                for name, c in self.counters.items()
            }


class _Exporter(BaseHTTPRequestHandler):
    feed: Feed

    def do_GET(self) -> None:
        body = router_exposition(ENVIRONMENT, *self.feed.read())
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def feed(prometheus: PrometheusServer) -> Iterator[Feed]:
    feed = Feed()
    handler = type("Exporter", (_Exporter,), {"feed": feed})
    server = ThreadingHTTPServer(("127.0.0.1", prometheus.target_port("service")), handler)
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    counting = threading.Thread(target=feed.run, daemon=True)
    serving.start()
    counting.start()
    try:
        yield feed
    finally:
        feed.stop.set()
        counting.join(5)
        server.shutdown()
        server.server_close()
        serving.join(5)


def source_over(prometheus: PrometheusServer, releases: Sequence[str]) -> PrometheusMetrics:
    # The source learns the releases in play from the environment's router.
    router = FakeRouter(FakeClock(), backends=[Backend(name, "", 0) for name in releases])
    settings = MetricSourceSettings(url=prometheus.url, timeout=5.0)
    return PrometheusMetrics(router, ENVIRONMENT, settings)


def wait_for_window(prometheus: PrometheusServer) -> float:
    """A moment by which Prometheus holds WINDOW_S seconds of the feed; returns it."""
    query = (
        f'count_over_time(safeship_router_requests_total{{release="canary-ok",'
        f'code_class="2xx"}}[{WINDOW_S:g}s]) >= {WINDOW_S:g}'
    )
    prometheus.wait_for(query, timeout=30)
    return time.time()


def test_the_judge_reads_promql_and_catches_errors_and_latency_but_passes_a_healthy_canary(
    prometheus: PrometheusServer, feed: Feed
) -> None:
    end = wait_for_window(prometheus)
    source = source_over(prometheus, list(RELEASES))
    figures = source.window(end - WINDOW_S, end)
    settings = JudgeSettings()

    for name in RELEASES:  # ~1,000 requests a second each, over WINDOW_S seconds
        assert figures[name].requests > 2 * BATCH / BATCH_INTERVAL, figures[name]
    errors = judge(figures["canary-err"], figures["stable-err"], settings)
    assert errors.decision == "fail"
    error_rate = errors.verdicts[0]
    assert (error_rate.name, error_rate.verdict) == ("error_rate", "high")
    assert figures["canary-err"].error_rate == pytest.approx(0.06, abs=0.01)

    slow = judge(figures["canary-lat"], figures["stable-lat"], settings)
    latency = slow.verdicts[1]
    assert (latency.name, latency.verdict) == ("latency", "high")
    assert slow.decision == "fail"
    p50 = figures["canary-lat"].latency_quantile_ms(0.5)
    assert p50 is not None and 38 < p50 < 42  # 2 x the 20 ms median, by the router's buckets

    healthy = judge(figures["canary-ok"], figures["stable-ok"], settings)
    assert healthy.decision == "pass", healthy.describe()
    # The same window from the derived quantile template, for a report.
    p95 = source.latency_quantile_ms("canary-lat", 0.95, WINDOW_S)
    assert p95 is not None and 55 < p95 < 66  # 2 x 30.8 ms


def test_a_release_without_data_is_nodata_never_a_pass(
    prometheus: PrometheusServer, feed: Feed
) -> None:
    end = wait_for_window(prometheus)
    source = source_over(prometheus, ["stable-ok", "never-served"])
    figures = source.window(end - WINDOW_S, end)
    assert "never-served" not in figures and figures["stable-ok"].requests > 0
    settings = JudgeSettings()
    judged = judge(figures.get("never-served", BackendStats()), figures["stable-ok"], settings)
    assert judged.decision == "nodata"
    ended = decide(judged, elapsed=1000.0, bake_time=60.0, settings=settings)
    assert ended.action == "rollback" and "not enough data" in ended.reason


def test_a_broken_query_or_a_server_down_is_an_outage_in_one_line(
    prometheus: PrometheusServer, fake_service: Callable[[], FakeService]
) -> None:
    router = FakeRouter(FakeClock(), backends=[Backend("v1", "", 100)])
    broken = MetricSourceSettings(
        url=prometheus.url, queries=PrometheusQueries(requests="sum(rate(x[{window}])")
    )
    with pytest.raises(PrometheusError, match=r"answered 400: .*parse error") as raised:
        PrometheusMetrics(router, ENVIRONMENT, broken).window(time.time() - 5, time.time())
    assert "\n" not in str(raised.value)
    hanging = fake_service().on("GET", "/api/v1/query", Reply(hang=True))
    slow = MetricSourceSettings(url=hanging.url, timeout=0.3)
    with pytest.raises(PrometheusError, match="timed out"):
        PrometheusMetrics(router, ENVIRONMENT, slow).window(time.time() - 5, time.time())


def test_prometheus_scrapes_the_builtin_routers_metrics(
    prometheus: PrometheusServer, fake_service: Callable[[], FakeService], tmp_path: Path
) -> None:
    backend = fake_service().on("GET", "/*", Reply(200, {"ok": True}))
    port = prometheus.target_port("router")
    settings = BuiltinRouterSettings(metrics_port=port)
    router = BuiltinRouter("scraped", free_port(), tmp_path / "router", settings)
    router.ensure_running()
    try:
        router.set_backends([Backend("v1", backend.url, 100)])
        with httpx.Client() as client:
            for _ in range(30):
                assert client.get(f"http://127.0.0.1:{router.port}/x").status_code == 200
            # Read-only: the control routes are not on the metrics listener.
            control = client.put(f"http://127.0.0.1:{port}/admin/backends", json={})
            assert control.status_code in (404, 405)
        found = prometheus.wait_for(
            'safeship_router_requests_total{job="router",environment="scraped",'
            'release="v1",code_class="2xx"} == 30',
            timeout=30,
        )
        assert found[0]["metric"]["release"] == "v1"
        weight = prometheus.query('safeship_router_weight_ratio{job="router",release="v1"}')
        assert weight[0]["value"][1] == "1"
    finally:
        router.stop()


def test_a_bake_reading_prometheus_rolls_back_on_the_error_rate_rule(
    prometheus: PrometheusServer, feed: Feed
) -> None:
    wait_for_window(prometheus)
    source = source_over(prometheus, ["canary-err", "stable-err"])
    phase = BakePhase("canary-err", "stable-err", 10, Status.PROGRESSING, 15.0)
    began = time.monotonic()
    outcome = Bake(source, RollbackRules()).run(phase)
    # The window since the bake began holds data after two scrapes: 6% > the 5% threshold.
    assert outcome.verdict is not None and outcome.verdict.rule == "error_rate", outcome
    assert outcome.verdict.figures["error_rate"] == pytest.approx(0.06, abs=0.01)
    assert time.monotonic() - began < 8


def test_a_deploy_reading_prometheus_rolls_back_a_failing_canary(
    prometheus: PrometheusServer,
    workspace_factory: Callable[..., Workspace],
    load_factory: Callable[..., LoadGenerator],
) -> None:
    # The environment's builtin router serves /metrics where Prometheus scrapes; the rules
    # read the canary's figures back through PromQL, not from the router.
    port = prometheus.target_port("router")
    ws = workspace_factory(
        behaviours={"v2": "error_rate=0.5"},
        steps=(50, 100),
        bake_time=0.3,
        router=f'builtin", metrics_port = {port}, sticky = "off',
    )
    assert operations.deploy(ws.loaded, ENV, "v1").ok
    path = ws.root / "safeship.toml"
    path.write_text(path.read_text().replace("bake_time = 0.3", "bake_time = 10"))
    ws.loaded = load_config(path)
    env = ws.environment()
    source = PrometheusMetrics(env.router, ENV, MetricSourceSettings(url=prometheus.url))
    load = load_factory(ws.url, rate=50)
    with Registry(ws.loaded.registry_url()) as registry:
        deployer = Deployer(
            ENV, env.settings, env.target, env.router, registry, EventBus(), metrics=source
        )
        began = time.monotonic()
        outcome = deployer.deploy("v2")
        record = registry.get(outcome.deployment_id)
    load.stop()
    assert outcome.status is Status.ROLLED_BACK, outcome.reason
    assert record is not None and record.rollback_rule == "error_rate", record
    assert outcome.reason.startswith("error rate ")
    assert time.monotonic() - began < 10  # within the step's bake: 2-3 scrapes


def test_a_bearer_token_from_the_environment_is_sent_and_never_shown(
    fake_service: Callable[[], FakeService], monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = {"status": "error", "errorType": "unauthorized", "error": "token refused"}
    service = fake_service().on("GET", "/api/v1/query", Reply(401, refused))
    router = FakeRouter(FakeClock(), backends=[Backend("v1", "", 100)])
    settings = MetricSourceSettings(url=service.url, token_env="PROMETHEUS_TOKEN")
    monkeypatch.setenv("PROMETHEUS_TOKEN", "s3cret-token")
    with pytest.raises(PrometheusError) as raised:
        PrometheusMetrics(router, ENVIRONMENT, settings).window(0.0, 10.0)
    assert service.requests[0].headers["Authorization"] == "Bearer s3cret-token"
    assert str(raised.value).endswith("answered 401: token refused")
    assert "s3cret" not in str(raised.value)
    monkeypatch.delenv("PROMETHEUS_TOKEN")
    with pytest.raises(PrometheusError, match="token variable PROMETHEUS_TOKEN is not set"):
        PrometheusMetrics(router, ENVIRONMENT, settings).window(0.0, 10.0)
