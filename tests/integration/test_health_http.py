"""Levels 2 and 3 over real HTTP on loopback: dependencies that hang, fail or lie; deep
endpoints; smoke flows with captures."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from safeship.config.health import Assertion, HealthSettings
from safeship.health.deep import DeepEndpoint
from safeship.health.dependencies import HttpCheck, TcpCheck
from safeship.health.resolve import smoke_probes
from safeship.health.runner import run_sync
from safeship.health.verify import verify_levels_2_3
from safeship.redaction import redact
from testing.services import FakeService, Reply, Request

Services = Callable[[], FakeService]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def demo_app() -> Iterator[Callable[..., str]]:
    """Start the demo app (its health endpoints are safeship.appkit's); killed afterwards."""
    started: list[subprocess.Popen[bytes]] = []

    def start(**env: str) -> str:
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "safeship.demo.demo_app", "--port", str(port)],
            env={**os.environ, "SAFESHIP_VERSION": "v1", **env},
            stdout=subprocess.DEVNULL,
        )
        started.append(proc)
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    return f"http://127.0.0.1:{port}"
            assert proc.poll() is None and time.monotonic() < deadline, "demo app did not start"
            time.sleep(0.05)

    yield start
    for proc in started:
        proc.kill()
        proc.wait(timeout=5)


def test_a_hanging_dependency_fails_within_its_timeout_and_the_rest_still_runs(
    fake_service: Services,
) -> None:
    service = fake_service()
    service.on("GET", "/hang", Reply(hang=True)).on("GET", "/ok", Reply(200, {"ok": True}))
    start = time.monotonic()
    hung, fine = run_sync(
        [
            HttpCheck("http:slow-api", service.url + "/hang", timeout=1.0),
            HttpCheck("http:fast-api", service.url + "/ok", timeout=1.0),
        ]
    )
    elapsed = time.monotonic() - start
    assert (hung.status, hung.detail) == ("failed", "timeout after 1s")
    assert 1.0 <= elapsed < 10  # cut at its timeout, not after the 30 s hang
    assert fine.ok


@pytest.mark.parametrize(
    ("reply", "check", "status", "detail"),
    [
        (Reply(503, {"error": "down"}), {}, "failed", "HTTP 503, expected 200"),
        (Reply(200, raw=b"<html>ok</html>"), {"expect_json": True}, "failed", "body is not JSON"),
        (
            Reply(200, {"status": {"indicator": "major"}}),
            {"assertions": (Assertion(path="status.indicator", equals="none"),)},
            "failed",
            'status.indicator is "major", expected "none"',
        ),
        (Reply(200, {}, delay=0.3), {"latency_budget_ms": 100.0}, "degraded", "over the 100 ms"),
        (Reply(204), {"expect_status": (200, 204)}, "ok", "HTTP 204 in"),
    ],
)
def test_http_dependency_verdicts(
    fake_service: Services, reply: Reply, check: dict[str, object], status: str, detail: str
) -> None:
    service = fake_service().on("GET", "/status", reply)
    (result,) = run_sync([HttpCheck("http:api", service.url + "/status", **check)])  # type: ignore[arg-type]
    assert result.status == status
    assert detail in result.detail
    assert result.level == 2


def test_tcp_connect() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(5)
        port = listener.getsockname()[1]
        up, down = run_sync(
            [
                TcpCheck("tcp:smtp", "127.0.0.1", port),
                TcpCheck("tcp:gone", "127.0.0.1", free_port()),
            ]
        )
    assert up.ok and up.detail.startswith("connected in")
    assert (down.status, down.detail) == ("failed", "connection refused")


def test_deep_endpoint_of_a_real_app_names_the_failing_dependency(
    demo_app: Callable[..., str], fake_service: Services
) -> None:
    payments = fake_service().on("GET", "/status", Reply(503, {"error": "maintenance"}))
    url = demo_app(DEMO_DEPENDENCY_URL=payments.url + "/status")
    results = run_sync([DeepEndpoint(url)])
    summary = [(r.name, r.status, r.detail) for r in results]
    assert summary == [
        ("deep:catalogue", "ok", ""),
        ("deep:dependency", "failed", "HTTP 503"),
        ("deep", "failed", "status is 'unhealthy'"),
    ]
    assert results[-1].http_status == 503


def test_deep_endpoint_of_a_healthy_app(demo_app: Callable[..., str]) -> None:
    catalogue, endpoint = run_sync([DeepEndpoint(demo_app())])
    assert (catalogue.name, catalogue.status) == ("deep:catalogue", "ok")
    assert (endpoint.status, endpoint.detail, endpoint.http_status) == ("ok", "1 reported ok", 200)


@pytest.mark.parametrize(
    ("reply", "detail"),
    [
        (Reply(200, raw=b"{not json"), "HTTP 200: body is not JSON"),
        (Reply(404, {"error": "not found"}), "HTTP 404, expected 200 or 503"),
        (Reply(500, raw=b"Internal Server Error"), "HTTP 500, expected 200 or 503"),
    ],
)
def test_deep_endpoints_that_cannot_be_judged(
    fake_service: Services, reply: Reply, detail: str
) -> None:
    service = fake_service().on("GET", "/api/health/deep", reply)
    (result,) = run_sync([DeepEndpoint(service.url)])
    assert (result.name, result.status, result.detail) == ("deep", "failed", detail)


def test_a_hanging_deep_endpoint_fails_within_its_timeout(fake_service: Services) -> None:
    service = fake_service().on("GET", "/api/health/deep", Reply(hang=True))
    start = time.monotonic()
    (result,) = run_sync([DeepEndpoint(service.url, timeout=0.5)])
    assert time.monotonic() - start < 10  # cut at its timeout, not after the 30 s hang
    assert (result.status, result.detail) == ("failed", "timeout after 0.5s")


def items_api(service: FakeService) -> FakeService:
    """A tiny records API: POST creates (201 + id), GET reads, DELETE removes (204)."""
    records: dict[str, dict[str, object]] = {}

    def create(request: Request) -> Reply:
        record = {"id": len(records) + 41, **request.json()}
        records[str(record["id"])] = record
        return Reply(201, record)

    def read(request: Request) -> Reply:
        record = records.get(request.path.rsplit("/", 1)[1])
        return Reply(200, record) if record else Reply(404, {"error": "no such record"})

    def delete(request: Request) -> Reply:
        return Reply(204) if records.pop(request.path.rsplit("/", 1)[1], None) else Reply(404)

    service.on("POST", "/api/v1/items", create)
    service.on("GET", "/api/v1/items/*", read)
    service.on("DELETE", "/api/v1/items/*", delete)
    service.on("GET", "/api/v1/slow", Reply(200, [], delay=0.5))
    return service


SMOKE = {
    "smoke": {
        "flows": [
            {
                "name": "create and delete",
                "steps": [
                    {
                        "name": "create",
                        "method": "POST",
                        "path": "/api/v1/items",
                        "headers": {"Authorization": "Bearer ${SMOKE_TOKEN}"},
                        "json": {"name": "smoke-test", "tags": ["a"]},
                        "expect_status": 201,
                        "capture": {"item_id": "id"},
                        "assert": [{"path": "name", "equals": "smoke-test"}],
                    },
                    {
                        "name": "read",
                        "path": "/api/v1/items/{item_id}",
                        "assert": [
                            {"path": "id", "exists": True},
                            {"path": "tags", "is_array": True, "length": 1},
                        ],
                    },
                    {"name": "delete", "method": "DELETE", "path": "/api/v1/items/{item_id}",
                     "expect_status": 204},
                ],
            }
        ]
    }
}  # fmt: skip


def test_smoke_flow_captures_a_record_and_deletes_it(fake_service: Services) -> None:
    service = items_api(fake_service())
    settings = HealthSettings.model_validate(SMOKE)
    token = "smoke-secret-token-123"
    results = run_sync(smoke_probes(service.url, settings, {"SMOKE_TOKEN": token}))
    assert [(r.name, r.status, r.http_status, r.level) for r in results] == [
        ("smoke:create and delete/create", "ok", 201, 3),
        ("smoke:create and delete/read", "ok", 200, 3),
        ("smoke:create and delete/delete", "ok", 204, 3),
    ]
    assert [(r.method, r.path) for r in service.requests] == [
        ("POST", "/api/v1/items"),
        ("GET", "/api/v1/items/41"),
        ("DELETE", "/api/v1/items/41"),
    ]
    assert service.requests[0].headers["Authorization"] == f"Bearer {token}"
    assert service.requests[0].json() == {"name": "smoke-test", "tags": ["a"]}
    assert redact(f"Authorization: Bearer {token}") == "Authorization: Bearer ****"


def test_a_failed_step_stops_its_flow(fake_service: Services) -> None:
    service = items_api(fake_service())
    service.on("POST", "/api/v1/items", Reply(500, {"error": "database is read-only"}))
    settings = HealthSettings.model_validate(SMOKE)
    results = run_sync(smoke_probes(service.url, settings, {"SMOKE_TOKEN": "t0ken-t0ken"}))
    assert [(r.name, r.status, r.detail) for r in results] == [
        (
            "smoke:create and delete/create",
            "failed",
            "HTTP 500, expected 201; 2 later steps not run",
        )
    ]
    assert len(service.requests) == 1


def test_flows_run_concurrently_and_a_hanging_step_times_out(fake_service: Services) -> None:
    service = items_api(fake_service()).on("GET", "/api/v1/hang", Reply(hang=True))
    # Each slow step is answered only once all three are waiting: flows run one after another
    # would break the barrier (and fail the first step).
    together = threading.Barrier(3, timeout=10)

    def slow(request: Request) -> Reply:
        together.wait()
        return Reply(200, [])

    service.on("GET", "/api/v1/slow", slow)
    flows = [
        {"name": f"slow {n}", "steps": [{"path": "/api/v1/slow", "assert": [{"is_array": True}]}]}
        for n in range(3)
    ]
    flows.append({"name": "hangs", "critical": False, "steps": [{"path": "/api/v1/hang"}]})
    settings = HealthSettings.model_validate({"smoke": {"timeout": 2.0, "flows": flows}})
    start = time.monotonic()
    results = run_sync(smoke_probes(service.url, settings, {}))
    elapsed = time.monotonic() - start
    assert [(r.name, r.status) for r in results] == [
        ("smoke:slow 0/GET /api/v1/slow", "ok"),
        ("smoke:slow 1/GET /api/v1/slow", "ok"),
        ("smoke:slow 2/GET /api/v1/slow", "ok"),
        ("smoke:hangs/GET /api/v1/hang", "failed"),
    ]
    assert results[-1].detail == "timeout after 2s" and not results[-1].critical
    assert elapsed < 10  # the hanging step (30 s) was cut at its timeout


def test_verify_runs_deep_then_smoke_and_stops_after_a_deep_failure(
    demo_app: Callable[..., str], fake_service: Services
) -> None:
    broken = fake_service().on("GET", "/status", Reply(503, {}))
    url = demo_app(DEMO_DEPENDENCY_URL=broken.url + "/status")
    settings = HealthSettings.model_validate(
        {"deep": {}, "smoke": {"flows": [{"name": "items", "steps": [{"path": "/api/v1/items"}]}]}}
    )
    names = [r.name for r in verify_levels_2_3(url, settings, {})]
    assert names == ["deep:catalogue", "deep:dependency", "deep"]  # no smoke after that

    healthy = demo_app()
    results = verify_levels_2_3(healthy, settings, {})
    assert [(r.name, r.status) for r in results] == [
        ("deep:catalogue", "ok"),
        ("deep", "ok"),
        ("smoke:items/GET /api/v1/items", "ok"),
    ]
