"""Level-1 health: the release answers its health endpoint with 200 and status "healthy"."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from safeship.config.models import HealthSettings
from safeship.health.base import CheckResult, CheckStatus, one_line

if TYPE_CHECKING:
    import httpx

NAME = "http"
# Retry sleeps grow from settings.backoff by this factor, up to max(_BACKOFF_CAP, backoff).
_BACKOFF_GROWTH = 1.5
_BACKOFF_CAP = 1.0


@contextmanager
def _client_for(client: httpx.Client | None, settings: HealthSettings) -> Iterator[httpx.Client]:
    import httpx

    if client is not None:
        yield client
        return
    # trust_env=False: releases are on loopback; an HTTP(S)_PROXY variable must not reroute it.
    with httpx.Client(timeout=settings.timeout, trust_env=False) as own:
        yield own


def connection_refused(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(10):  # bounded walk down the exception chain
        if seen is None:
            break
        if isinstance(seen, ConnectionRefusedError) or "refused" in str(seen).lower():
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def check_http(
    base_url: str, settings: HealthSettings, client: httpx.Client | None = None
) -> CheckResult:
    """GET ``base_url + settings.path`` once; ok iff HTTP 200 with JSON ``status == "healthy"``.

    A JSON ``status`` of "degraded" gives a degraded result; everything else not ok is failed.
    """
    import httpx

    url = base_url.rstrip("/") + settings.path
    start = time.perf_counter()

    def result(status: CheckStatus, detail: str, http_status: int | None = None) -> CheckResult:
        latency = (time.perf_counter() - start) * 1000
        return CheckResult(NAME, status, latency, detail, http_status)

    try:
        with _client_for(client, settings) as http:
            # The clock starts at the request: creating a client (TLS context) is not latency.
            start = time.perf_counter()
            response = http.get(url, timeout=settings.timeout)
    except httpx.TimeoutException:
        return result("failed", f"timeout after {settings.timeout:g}s")
    except httpx.ConnectError as exc:
        return result(
            "failed", "connection refused" if connection_refused(exc) else one_line(str(exc))
        )
    except httpx.HTTPError as exc:
        return result("failed", one_line(f"{type(exc).__name__}: {exc}"))

    code = response.status_code
    if code != 200:
        return result("failed", f"HTTP {code}", code)
    try:
        body = response.json()
    except ValueError:
        return result("failed", "body is not JSON", code)
    status = body.get("status") if isinstance(body, dict) else None
    if status == "healthy":
        return result("ok", "", code)
    if status is None:
        return result("failed", "body has no status", code)
    return result("degraded" if status == "degraded" else "failed", f"status is {status!r}", code)


def wait_until_healthy(
    base_url: str,
    settings: HealthSettings,
    is_alive: Callable[[], bool],
    client: httpx.Client | None = None,
) -> CheckResult:
    """Check until ok, giving a starting release up to ``settings.retries`` more attempts.

    Returns at once, failed, when the release's process is gone (``is_alive()`` is False) or
    the endpoint answers 5xx: that is the release's real answer, not a startup glitch. Otherwise
    returns the first ok result, or the last one after the retries, its detail noting the count.
    Bounded by (retries + 1) * timeout plus the sleeps, each at most max(1 s, backoff).
    """
    delay = settings.backoff
    attempts = settings.retries + 1
    last: CheckResult | None = None
    with _client_for(client, settings) as http:
        for attempt in range(1, attempts + 1):
            if not is_alive():
                return _exited(last)
            last = check_http(base_url, settings, http)
            if last.status == "ok":
                return last
            if last.http_status is not None and last.http_status >= 500:
                return last
            if attempt == attempts:
                break
            time.sleep(delay)
            delay = min(delay * _BACKOFF_GROWTH, max(_BACKOFF_CAP, settings.backoff))
    assert last is not None  # attempts >= 1
    if not is_alive():
        return _exited(last)
    times = "attempt" if attempts == 1 else "attempts"
    return CheckResult(
        last.name,
        last.status,
        last.latency_ms,
        f"{last.detail} after {attempts} {times}",
        last.http_status,
    )


def _exited(last: CheckResult | None) -> CheckResult:
    detail = "release process exited"
    if last is not None:
        detail += f" (last check: {last.detail})"
    return CheckResult(NAME, "failed", last.latency_ms if last else 0.0, detail, None)
