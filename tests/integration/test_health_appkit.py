"""safeship.appkit: the endpoints over ASGI and WSGI, timeouts, concurrency, caching."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from safeship.appkit import HealthChecks, HealthMiddleware, Outcome, asgi_app, http_check, wsgi_app
from safeship.appkit.asgi import Receive, Scope, Send
from safeship.health.deep import judge_report
from testing.services import FakeService, Reply

# The async tests run on asyncio through anyio's pytest plugin (a dev dependency).
anyio_mark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def asgi_client(app: Any, root_path: str = "") -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, root_path=root_path), base_url="http://app.test"
    )


def wsgi_client(app: Any) -> httpx.Client:
    return httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://app.test")


def sample_checks() -> HealthChecks:
    health = HealthChecks("/api/health", info={"version": "v7"}, cache_seconds=0)
    health.add("database", lambda: True)
    health.add("cache", lambda: Outcome("degraded", "memory 91%"), critical=False, ready=False)

    @health.check("queue", timeout=1.0)
    async def queue() -> str:
        await asyncio.sleep(0)
        return "ok"

    return health


@anyio_mark
async def test_asgi_endpoints_answer_in_safeships_format() -> None:
    async with asgi_client(asgi_app(sample_checks())) as client:
        live = await client.get("/api/health")
        ready = await client.get("/api/health/ready")
        deep = await client.get("/api/health/deep")
        missing = await client.get("/api/health/other")
        post = await client.post("/api/health/deep")
        head = await client.head("/api/health")
    assert live.status_code == 200 and live.headers["content-type"] == "application/json"
    assert live.headers["cache-control"] == "no-store"
    body = live.json()
    assert (body["status"], body["version"]) == ("healthy", "v7") and "timestamp" in body
    assert ready.status_code == 200
    assert ready.json()["status"] == "healthy"
    assert set(ready.json()["checks"]) == {"database", "queue"}  # cache is not for readiness
    report = deep.json()
    assert deep.status_code == 200 and report["status"] == "degraded"
    database, cache = report["checks"]["database"], report["checks"]["cache"]
    assert database == {"status": "ok", "latency": database["latency"], "critical": True}
    assert isinstance(database["latency"], int) and 0 <= database["latency"] < 1000
    assert cache == {
        "status": "degraded",
        "latency": cache["latency"],
        "critical": False,
        "detail": "memory 91%",
    }
    # safeship's deep level reads it as it is.
    judged = {r.name: r.status for r in judge_report(report, http_status=200)}
    assert judged == {
        "deep:database": "ok",
        "deep:cache": "degraded",
        "deep:queue": "ok",
        "deep": "degraded",
    }
    assert (missing.status_code, post.status_code) == (404, 405)
    assert (head.status_code, head.content) == (200, b"")


def test_wsgi_endpoints_and_a_critical_failure() -> None:
    health = sample_checks()
    health.add("payments", lambda: False)
    with wsgi_client(wsgi_app(health)) as client:
        deep = client.get("/api/health/deep")
        ready = client.get("/api/health/ready")
        live = client.get("/api/health")
    assert deep.status_code == 503 and deep.json()["status"] == "unhealthy"
    assert deep.json()["checks"]["payments"]["detail"] == "check returned False"
    assert ready.status_code == 503
    assert live.status_code == 200  # liveness checks no dependency


@anyio_mark
async def test_mounted_under_a_prefix_and_as_middleware() -> None:
    health = HealthChecks("/healthz", cache_seconds=0)
    health.add("db", lambda: None)

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"app"})

    async with asgi_client(HealthMiddleware(inner, health)) as client:
        assert (await client.get("/healthz/ready")).json()["status"] == "healthy"
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/orders")).text == "app"
    # A framework that strips the mount point from path and puts it in root_path.
    async with asgi_client(asgi_app(health), root_path="/healthz") as client:
        assert (await client.get("/deep")).json()["checks"]["db"]["status"] == "ok"

    def flask_like(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"flask"]

    with wsgi_client(wsgi_app(health, flask_like)) as client:
        assert client.get("/healthz/deep").json()["status"] == "healthy"
        assert client.get("/").text == "flask"


@anyio_mark
async def test_checks_run_concurrently_each_under_its_timeout() -> None:
    health = HealthChecks(cache_seconds=0)
    # Each slow check passes only once all three are running: in sequence, the first would
    # wait at the barrier until its 10 s timeout.
    together = threading.Barrier(3)

    def slow() -> None:
        together.wait(timeout=20)

    for n in range(3):
        health.add(f"slow-{n}", slow, timeout=10.0)
    health.add("hangs", lambda: time.sleep(10), timeout=0.4)

    async def never() -> None:
        await asyncio.sleep(10)

    health.add("hangs-async", never, timeout=0.4, critical=False)
    start = time.monotonic()
    async with asgi_client(asgi_app(health)) as client:
        answer = await client.get("/api/health/deep")
    elapsed = time.monotonic() - start
    checks = answer.json()["checks"]
    assert elapsed < 8  # the hanging checks (10 s) were cut at their 0.4 s timeouts
    assert [checks[f"slow-{n}"]["status"] for n in range(3)] == ["ok"] * 3
    assert checks["hangs"] == {"status": "failed", "latency": checks["hangs"]["latency"],
                               "critical": True, "detail": "timeout after 0.4s"}  # fmt: skip
    assert 400 <= checks["hangs"]["latency"] < 8000
    assert checks["hangs-async"]["detail"] == "timeout after 0.4s"
    assert answer.status_code == 503


def test_answers_are_cached_and_computed_once_for_concurrent_probes() -> None:
    calls = 0
    lock = threading.Lock()

    def counted() -> bool:
        nonlocal calls
        with lock:
            calls += 1
        time.sleep(0.2)
        return True

    health = HealthChecks(cache_seconds=0.5)
    health.add("database", counted)
    app = wsgi_app(health)
    answers: list[int] = []

    def probe() -> None:
        with wsgi_client(app) as client:
            answers.append(client.get("/api/health/deep").status_code)

    threads = [threading.Thread(target=probe) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert answers == [200] * 20
    assert calls == 1  # a probe storm costs the database one check
    with wsgi_client(app) as client:
        client.get("/api/health/deep")
        assert calls == 1
        time.sleep(0.55)
        client.get("/api/health/deep")
    assert calls == 2


@anyio_mark
async def test_concurrent_asgi_probes_share_one_computation() -> None:
    calls = 0

    async def counted() -> None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.1)

    health = HealthChecks(cache_seconds=5)
    health.add("database", counted)
    async with asgi_client(asgi_app(health)) as client:
        answers = await asyncio.gather(*(client.get("/api/health/ready") for _ in range(25)))
    assert {a.status_code for a in answers} == {200} and calls == 1


@pytest.mark.parametrize(
    ("returns", "status", "detail"),
    [
        (None, "ok", None),
        (True, "ok", None),
        ("degraded", "degraded", None),
        (Outcome("failed", "disk full"), "failed", "disk full"),
        (42, "failed", "check returned 42"),
    ],
)
def test_what_a_custom_check_may_return(returns: Any, status: str, detail: str | None) -> None:
    health = HealthChecks(cache_seconds=0)
    health.add("custom", lambda: returns)
    entry = json.loads(health.respond_sync("deep").body)["checks"]["custom"]
    assert entry["status"] == status
    assert entry.get("detail") == detail


def test_an_exception_is_a_failed_check_with_secrets_masked() -> None:
    def broken() -> None:
        raise RuntimeError("cannot connect to postgresql://app:s3cr3t-pw@db:5432/app")

    health = HealthChecks(cache_seconds=0)
    health.add("database", broken)
    entry = json.loads(health.respond_sync("deep").body)["checks"]["database"]
    assert entry["status"] == "failed"
    assert entry["detail"] == "RuntimeError: cannot connect to postgresql://app:****@db:5432/app"


def test_http_dependency_check(fake_service: Callable[[], FakeService]) -> None:
    service = fake_service()
    service.on("GET", "/up", Reply(200, {})).on("GET", "/down", Reply(503, {}))
    service.on("GET", "/hang", Reply(hang=True))
    health = HealthChecks(cache_seconds=0)
    health.add("up", http_check(service.url + "/up"))
    health.add("down", http_check(service.url + "/down"), critical=False)
    health.add("hang", http_check(service.url + "/hang", timeout=0.3))
    start = time.monotonic()
    answer = health.respond_sync("deep")
    assert time.monotonic() - start < 10  # the hang (30 s) was cut at its 0.3 s timeout
    checks = json.loads(answer.body)["checks"]
    assert checks["up"]["status"] == "ok"
    assert (checks["down"]["status"], checks["down"]["detail"]) == ("failed", "HTTP 503")
    assert checks["hang"]["status"] == "failed"
    assert answer.status == 503


def test_duplicate_names_and_bad_prefixes_are_refused() -> None:
    health = HealthChecks()
    health.add("db", lambda: True)
    with pytest.raises(ValueError, match="already registered"):
        health.add("db", lambda: True)
    with pytest.raises(ValueError, match="must start with /"):
        HealthChecks("health")
