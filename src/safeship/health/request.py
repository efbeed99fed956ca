"""One HTTP request judged as a check: status, JSON body, assertions, latency budget.

Shared by HTTP dependency checks (level 2) and smoke steps (level 3).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from safeship.config.health import Assertion
from safeship.health.base import CheckResult, CheckStatus, one_line
from safeship.health.basic import connection_refused
from safeship.health.jsonbody import first_failed

if TYPE_CHECKING:
    import httpx


@dataclass(frozen=True)
class Expectation:
    status: tuple[int, ...] = (200,)
    json: bool = False
    assertions: Sequence[Assertion] = ()
    latency_budget_ms: float | None = None


def statuses(expect: int | list[int]) -> tuple[int, ...]:
    return (expect,) if isinstance(expect, int) else tuple(expect)


@dataclass(frozen=True)
class Answer:
    result: CheckResult
    body: Any  # the parsed JSON body, or None when not JSON / not asked for


async def send(
    http: httpx.AsyncClient,
    name: str,
    method: str,
    url: str,
    *,
    timeout: float,
    expect: Expectation,
    headers: Mapping[str, str] | None = None,
    body: Any = None,
) -> Answer:
    """Send one request and judge the answer; never raises for an HTTP or network failure."""
    import httpx

    start = time.perf_counter()

    def done(status: CheckStatus, detail: str, code: int | None, parsed: Any = None) -> Answer:
        latency = (time.perf_counter() - start) * 1000 if latency_ms is None else latency_ms
        return Answer(CheckResult(name, status, latency, detail, code), parsed)

    latency_ms: float | None = None
    try:
        response = await http.request(
            method,
            url,
            headers=dict(headers or {}),
            json=body,
            timeout=timeout,
        )
    except httpx.TimeoutException:
        return done("failed", f"timeout after {timeout:g}s", None)
    except httpx.ConnectError as exc:
        return done(
            "failed", "connection refused" if connection_refused(exc) else one_line(str(exc)), None
        )
    except httpx.HTTPError as exc:
        return done("failed", one_line(f"{type(exc).__name__}: {exc}"), None)
    latency_ms = (time.perf_counter() - start) * 1000
    code = response.status_code
    if code not in expect.status:
        wanted = " or ".join(str(s) for s in expect.status)
        return done("failed", f"HTTP {code}, expected {wanted}", code)
    parsed: Any = None
    if expect.json or expect.assertions:
        try:
            parsed = response.json()
        except ValueError:
            return done("failed", f"HTTP {code}: body is not JSON", code)
        problem = first_failed(parsed, expect.assertions)
        if problem is not None:
            return done("failed", problem, code, parsed)
    budget = expect.latency_budget_ms
    if budget is not None and latency_ms > budget:
        return done("degraded", f"{latency_ms:.0f} ms, over the {budget:g} ms budget", code, parsed)
    return done("ok", f"HTTP {code} in {latency_ms:.0f} ms", code, parsed)
