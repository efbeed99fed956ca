"""The Redis checks (safeship's level 2, and appkit's) against real redis-server processes."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from safeship.appkit import HealthChecks, redis_check
from safeship.health.dependencies import RedisCheck
from safeship.health.runner import run_sync
from testing.redis import RedisServer, start_redis

RedisFactory = Callable[..., RedisServer]


def test_healthy_redis(redis_url: str) -> None:
    (result,) = run_sync([RedisCheck("redis:cache", redis_url)])
    assert (result.name, result.status, result.level) == ("redis:cache", "ok", 2)
    assert result.detail.startswith("PING in ") and "no maxmemory" in result.detail


def test_maxmemory_nearly_reached_is_degraded(redis_factory: RedisFactory) -> None:
    server = redis_factory("--maxmemory", "8mb", "--maxmemory-policy", "noeviction")
    client = redis.Redis.from_url(server.url)
    value = b"x" * 65_536
    ratio = 0.0
    for n in range(200):  # 8 MB / 64 KB = 128 values at most
        info = client.info("memory")
        ratio = info["used_memory"] / info["maxmemory"]
        if ratio >= 0.92:
            break
        client.set(f"fill:{n}", value)
    client.close()
    assert ratio >= 0.92

    (result,) = run_sync([RedisCheck("redis:cache", server.url, memory_alarm=0.9)])
    assert result.status == "degraded"
    assert "/8.0 MB (" in result.detail and result.detail.endswith("alarm at 90%")

    health = HealthChecks(cache_seconds=0)
    health.add("cache", redis_check(server.url), critical=False)
    answer = health.respond_sync("deep")
    assert answer.status == 200  # degraded, not unhealthy
    assert b'"status": "degraded"' in answer.body


def test_redis_stopped_mid_run_fails_fast(redis_factory: RedisFactory) -> None:
    server = redis_factory()
    assert run_sync([RedisCheck("redis:cache", server.url)])[0].ok
    server.command("SHUTDOWN", "NOSAVE")
    server.process.wait(timeout=5)
    start = time.monotonic()
    (result,) = run_sync([RedisCheck("redis:cache", server.url, timeout=30.0)])
    assert time.monotonic() - start < 10  # refused at once, not after the 30 s timeout
    assert (result.status, result.detail) == ("failed", "connection refused")


def test_a_redis_that_never_answers_fails_within_the_timeout() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(5)
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        start = time.monotonic()
        (result,) = run_sync([RedisCheck("redis:cache", url, timeout=0.5)])
        elapsed = time.monotonic() - start
    assert result.status == "failed" and "imeout" in result.detail
    assert elapsed < 10  # cut at its 0.5 s timeout (the silent server never answers)


def test_the_fixture_fails_loudly_without_redis_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(pytest.fail.Exception, match="redis-server not found: install it"):
        start_redis(tmp_path)
