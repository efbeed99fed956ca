"""The PostgreSQL checks (safeship's level 2, and appkit's) against real servers."""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Iterator

import psycopg
import pytest

from safeship.appkit import HealthChecks, postgres_check
from safeship.health.dependencies import PostgresCheck
from safeship.health.runner import run_sync
from testing.postgres import running_postgres

pytestmark = pytest.mark.postgres


def client_backends(url: str) -> tuple[int, int]:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE backend_type = 'client backend'), "
            "current_setting('max_connections')::int FROM pg_stat_activity"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


@pytest.fixture
def held_connections(postgres_url: str) -> Iterator[list[psycopg.Connection[tuple[object, ...]]]]:
    held: list[psycopg.Connection[tuple[object, ...]]] = []
    yield held
    for conn in held:
        conn.close()


def test_healthy_database(postgres_url: str) -> None:
    (result,) = run_sync([PostgresCheck("postgres:db", postgres_url)])
    assert (result.name, result.status, result.level) == ("postgres:db", "ok", 2)
    assert result.detail.startswith("SELECT 1 in ") and " connections (" in result.detail


def test_nearly_exhausted_max_connections_is_degraded(
    postgres_url: str, held_connections: list[psycopg.Connection[tuple[object, ...]]]
) -> None:
    in_use, maximum = client_backends(postgres_url)
    # Hold connections until 85% of max_connections are in use (the check adds one more).
    for _ in range(math.ceil(0.85 * maximum) - in_use):
        held_connections.append(psycopg.connect(postgres_url, autocommit=True))
    (result,) = run_sync([PostgresCheck("postgres:db", postgres_url, pool_alarm=0.8)])
    assert result.status == "degraded"
    assert result.detail.endswith("alarm at 80%")
    used = int(result.detail.split("; ")[1].split("/")[0])
    assert used / maximum >= 0.85

    health = HealthChecks(cache_seconds=0)
    health.add("database", postgres_check(postgres_url))
    assert b'"database": {"status": "degraded"' in health.respond_sync("deep").body


def test_select_1_over_its_budget_is_degraded(postgres_url: str) -> None:
    (result,) = run_sync([PostgresCheck("postgres:db", postgres_url, latency_budget_ms=0.001)])
    assert result.status == "degraded"
    assert (
        result.detail.startswith("SELECT 1 took ") and "over the 0.001 ms budget" in result.detail
    )


def test_database_stopped_mid_run_fails_fast() -> None:
    with running_postgres("max_connections=20") as server:
        url = server.admin_url
        health = HealthChecks(cache_seconds=0)
        health.add("database", postgres_check(url, timeout=2.0))
        assert run_sync([PostgresCheck("postgres:db", url)])[0].ok
        assert health.respond_sync("deep").status == 200

        server.stop()
        start = time.monotonic()
        (result,) = run_sync([PostgresCheck("postgres:db", url, timeout=30.0)])
        assert time.monotonic() - start < 10  # refused at once, not after the 30 s timeout
        assert result.status == "failed"
        assert "Connection refused" in result.detail, result.detail
        answer = health.respond_sync("deep")
        assert answer.status == 503
        assert b'"database": {"status": "failed"' in answer.body


def test_a_database_that_never_answers_fails_within_the_timeout() -> None:
    with socket.socket() as silent:  # accepts connections (backlog), never speaks
        silent.bind(("127.0.0.1", 0))
        silent.listen(5)
        url = f"postgresql://postgres@127.0.0.1:{silent.getsockname()[1]}/postgres"
        start = time.monotonic()
        (result,) = run_sync([PostgresCheck("postgres:db", url, timeout=1.0)])
        elapsed = time.monotonic() - start
    assert (result.status, result.detail) == ("failed", "timeout after 1s")
    assert elapsed < 10  # cut at its timeout (the silent server never answers)
