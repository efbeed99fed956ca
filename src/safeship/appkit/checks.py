"""Ready-made checks to register with HealthChecks: PostgreSQL, Redis, an HTTP dependency.

Each factory returns a synchronous callable with a ``timeout`` attribute, which it also gives
its client library, so the thread running it ends soon after the check times out. The client
libraries are imported when a check first runs: an app without Redis never needs ``redis``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from safeship.appkit.core import Outcome


@dataclass(frozen=True)
class PostgresCheck:
    """Connect and run ``SELECT 1``; degraded when connections in use reach ``pool_alarm``
    of max_connections. Needs ``psycopg`` (3)."""

    url: str
    timeout: float = 2.0
    pool_alarm: float = 0.8

    def __call__(self) -> Outcome:
        import psycopg

        connect_timeout = max(2, round(self.timeout))  # libpq counts whole seconds, at least 2
        with psycopg.connect(self.url, connect_timeout=connect_timeout, autocommit=True) as conn:
            conn.execute("SELECT 1")
            row = conn.execute(
                "SELECT count(*) FILTER (WHERE backend_type = 'client backend'), "
                "current_setting('max_connections')::int FROM pg_stat_activity"
            ).fetchone()
        if row is not None and row[1]:
            ratio = row[0] / row[1]
            if ratio >= self.pool_alarm:
                return Outcome("degraded", f"{row[0]}/{row[1]} connections in use ({ratio:.0%})")
        return Outcome()


@dataclass(frozen=True)
class RedisCheck:
    """PING; degraded when used_memory reaches ``memory_alarm`` of maxmemory. Needs ``redis``."""

    url: str
    timeout: float = 2.0
    memory_alarm: float = 0.9

    def __call__(self) -> Outcome:
        import redis

        client = redis.Redis.from_url(
            self.url,
            socket_timeout=self.timeout,
            socket_connect_timeout=self.timeout,
            retry_on_timeout=False,
            single_connection_client=True,
        )
        with client:
            client.ping()
            info = client.info("memory")
        used, maximum = int(info.get("used_memory", 0)), int(info.get("maxmemory", 0))
        if maximum and used / maximum >= self.memory_alarm:
            return Outcome("degraded", f"memory {used / maximum:.0%} of maxmemory")
        return Outcome()


@dataclass(frozen=True)
class HttpCheck:
    """GET ``url``; ok when it answers one of ``expect_status``. Standard library only."""

    url: str
    timeout: float = 2.0
    expect_status: tuple[int, ...] = (200,)
    headers: Mapping[str, str] = field(default_factory=dict)

    def __call__(self) -> Outcome:
        import urllib.error
        import urllib.request

        request = urllib.request.Request(self.url, headers=dict(self.headers))
        # No proxy: a dependency is checked directly, as the app reaches it.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=self.timeout) as response:
                code = int(response.status)
        except urllib.error.HTTPError as exc:
            code = exc.code
        if code not in self.expect_status:
            return Outcome("failed", f"HTTP {code}")
        return Outcome()


def postgres_check(url: str, *, timeout: float = 2.0, pool_alarm: float = 0.8) -> PostgresCheck:
    return PostgresCheck(url, timeout, pool_alarm)


def redis_check(url: str, *, timeout: float = 2.0, memory_alarm: float = 0.9) -> RedisCheck:
    return RedisCheck(url, timeout, memory_alarm)


def http_check(
    url: str,
    *,
    timeout: float = 2.0,
    expect_status: int | tuple[int, ...] = 200,
    headers: Mapping[str, str] | None = None,
) -> HttpCheck:
    statuses = (expect_status,) if isinstance(expect_status, int) else tuple(expect_status)
    return HttpCheck(url, timeout, statuses, dict(headers or {}))
