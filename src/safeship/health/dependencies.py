"""Level 2, safeship's own dependency checks: PostgreSQL, Redis, any HTTP API, TCP connect.

They serve apps without a deep endpoint of their own, and check connectivity from where
safeship runs. Each is built from its (resolved) settings; the runner applies its timeout.
Details never include a URL (it may hold a password): the check's name says what it is.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from safeship.config.health import Assertion
from safeship.health.base import CheckResult, CheckStatus, one_line
from safeship.health.basic import connection_refused
from safeship.health.request import Expectation, send

if TYPE_CHECKING:
    import httpx

LEVEL = 2

# Client backends only: pg_stat_activity also lists the server's own background processes.
_PG_CONNECTIONS = """
SELECT count(*) FILTER (WHERE backend_type = 'client backend'),
       current_setting('max_connections')::int
FROM pg_stat_activity
"""


def _result(
    name: str, status: CheckStatus, start: float, detail: str, http_status: int | None = None
) -> CheckResult:
    return CheckResult(name, status, (time.perf_counter() - start) * 1000, detail, http_status)


def _over_budget(what: str, latency_ms: float, budget_ms: float) -> str | None:
    if latency_ms > budget_ms:
        return f"{what} took {latency_ms:.0f} ms, over the {budget_ms:g} ms budget"
    return None


@dataclass(frozen=True)
class PostgresCheck:
    """Connect, time ``SELECT 1``, and judge connections in use against max_connections."""

    name: str
    url: str
    timeout: float = 5.0
    critical: bool = True
    latency_budget_ms: float = 100.0
    pool_alarm: float = 0.8
    level: int = LEVEL

    async def run(self, http: httpx.AsyncClient) -> list[CheckResult]:
        import psycopg

        start = time.perf_counter()
        try:
            # connect_timeout bounds the connect inside libpq too (whole seconds, at least 2);
            # the runner's timeout cancels it sooner when it is shorter.
            conn = await psycopg.AsyncConnection.connect(
                self.url, connect_timeout=max(2, round(self.timeout)), autocommit=True
            )
        except psycopg.Error as exc:
            return [_result(self.name, "failed", start, _pg_error(exc))]
        try:
            async with conn:
                query_start = time.perf_counter()
                await conn.execute("SELECT 1")
                select_ms = (time.perf_counter() - query_start) * 1000
                cursor = await conn.execute(_PG_CONNECTIONS)
                row = await cursor.fetchone()
        except psycopg.Error as exc:
            return [_result(self.name, "failed", start, _pg_error(exc))]
        assert row is not None  # an aggregate always returns one row
        used, maximum = int(row[0]), int(row[1])
        ratio = used / maximum if maximum else 0.0
        figures = f"SELECT 1 in {select_ms:.1f} ms; {used}/{maximum} connections ({ratio:.0%})"
        if ratio >= self.pool_alarm:
            detail = f"{figures}, alarm at {self.pool_alarm:.0%}"
            return [_result(self.name, "degraded", start, detail)]
        slow = _over_budget("SELECT 1", select_ms, self.latency_budget_ms)
        if slow:
            return [_result(self.name, "degraded", start, slow)]
        return [_result(self.name, "ok", start, figures)]


def _pg_error(exc: BaseException) -> str:
    # psycopg's messages name host and port but never the password; keep the first line.
    lines = str(exc).strip().splitlines()
    return one_line(lines[0] if lines else type(exc).__name__)


@dataclass(frozen=True)
class RedisCheck:
    """PING latency, and used_memory / maxmemory from INFO memory."""

    name: str
    url: str
    timeout: float = 5.0
    critical: bool = True
    latency_budget_ms: float = 50.0
    memory_alarm: float = 0.9
    level: int = LEVEL

    async def run(self, http: httpx.AsyncClient) -> list[CheckResult]:
        from redis.asyncio import Redis
        from redis.exceptions import RedisError

        start = time.perf_counter()
        client = Redis.from_url(
            self.url,
            socket_timeout=self.timeout,
            socket_connect_timeout=self.timeout,
            retry_on_timeout=False,
            retry_on_error=[],
            single_connection_client=True,
        )
        try:
            async with client:
                ping_start = time.perf_counter()
                await client.ping()
                ping_ms = (time.perf_counter() - ping_start) * 1000
                info: Mapping[str, Any] = await client.info("memory")
        except (RedisError, OSError) as exc:
            detail = "connection refused" if connection_refused(exc) else str(exc)
            return [_result(self.name, "failed", start, one_line(detail or type(exc).__name__))]
        used, maximum = int(info.get("used_memory", 0)), int(info.get("maxmemory", 0))
        figures = f"PING in {ping_ms:.1f} ms"
        if maximum:
            ratio = used / maximum
            figures += f"; memory {_mb(used)}/{_mb(maximum)} ({ratio:.0%})"
            if ratio >= self.memory_alarm:
                detail = f"{figures}, alarm at {self.memory_alarm:.0%}"
                return [_result(self.name, "degraded", start, detail)]
        else:
            figures += f"; memory {_mb(used)}, no maxmemory"
        slow = _over_budget("PING", ping_ms, self.latency_budget_ms)
        if slow:
            return [_result(self.name, "degraded", start, slow)]
        return [_result(self.name, "ok", start, figures)]


def _mb(n: int) -> str:
    return f"{n / 1_048_576:.1f} MB"


@dataclass(frozen=True)
class HttpCheck:
    """An HTTP API (a payments or AI provider's status endpoint, an internal service)."""

    name: str
    url: str
    timeout: float = 5.0
    critical: bool = True
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    expect_status: tuple[int, ...] = (200,)
    latency_budget_ms: float = 1000.0
    expect_json: bool = False
    assertions: tuple[Assertion, ...] = ()
    level: int = LEVEL

    async def run(self, http: httpx.AsyncClient) -> list[CheckResult]:
        expect = Expectation(
            self.expect_status, self.expect_json, self.assertions, self.latency_budget_ms
        )
        answer = await send(
            http,
            self.name,
            self.method,
            self.url,
            timeout=self.timeout,
            expect=expect,
            headers=self.headers,
        )
        return [answer.result]


@dataclass(frozen=True)
class TcpCheck:
    """A TCP connect to host:port (a database or broker safeship has no client for)."""

    name: str
    host: str
    port: int
    timeout: float = 5.0
    critical: bool = True
    latency_budget_ms: float = 100.0
    level: int = LEVEL

    async def run(self, http: httpx.AsyncClient) -> list[CheckResult]:
        import asyncio  # here: `config check` imports this module and runs no event loop

        start = time.perf_counter()
        try:
            _, writer = await asyncio.open_connection(self.host, self.port)
        except OSError as exc:
            detail = "connection refused" if connection_refused(exc) else str(exc)
            return [_result(self.name, "failed", start, one_line(detail))]
        connect_ms = (time.perf_counter() - start) * 1000
        writer.close()
        with contextlib.suppress(OSError):  # the peer closing first is fine
            await writer.wait_closed()
        slow = _over_budget("connect", connect_ms, self.latency_budget_ms)
        if slow:
            return [_result(self.name, "degraded", start, slow)]
        return [_result(self.name, "ok", start, f"connected in {connect_ms:.1f} ms")]
