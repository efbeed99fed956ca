"""Level 2, the app's own deep endpoint: parsed, and judged check by check.

The endpoint answers (200 when healthy or degraded, 503 when unhealthy)::

    {"status": "healthy|degraded|unhealthy",
     "checks": {"database": {"status": "ok", "latency": 45, "critical": true},
                "cache": {"status": "failed", "latency": 3, "critical": false}, ...}}

Each reported check becomes a result named ``deep:<name>`` (ok / degraded / failed, its
latency in ms as the app measured it, its ``detail`` or ``error`` text if any), followed by one
result named ``deep`` for the endpoint's overall status.

Criticality is the app's to say, as safeship.appkit does: a failed ``"critical": false`` check
degrades the verdict, a failed critical one makes it unhealthy. A check without the key is
critical when the app answered ``unhealthy`` (or 5xx), and not when it answered ``healthy`` or
``degraded``: the app itself judged that failure survivable. So safeship and the app agree.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from safeship.health.base import CheckResult, CheckStatus, one_line
from safeship.health.request import Expectation, send

if TYPE_CHECKING:
    import httpx

NAME = "deep"
LEVEL = 2

_OVERALL: dict[str, CheckStatus] = {"healthy": "ok", "degraded": "degraded", "unhealthy": "failed"}
_CHECK: dict[str, CheckStatus] = {
    "ok": "ok",
    "healthy": "ok",
    "pass": "ok",
    "up": "ok",
    "degraded": "degraded",
    "warn": "degraded",
}


def judge_report(
    body: Any, latency_budget_ms: float | None = None, http_status: int | None = None
) -> list[CheckResult]:
    """The results of a deep endpoint's JSON answer (see the module docstring)."""
    if not isinstance(body, dict) or not isinstance(body.get("status"), str):
        return [CheckResult(NAME, "failed", 0.0, "answer has no status", http_status)]
    results: list[CheckResult] = []
    checks = body.get("checks", {})
    if not isinstance(checks, dict):
        return [CheckResult(NAME, "failed", 0.0, "checks is not an object", http_status)]
    status = body["status"]
    overall = _OVERALL.get(status, "failed")
    # What a check that does not say its criticality is taken as (see the module docstring).
    fatal = overall == "failed" or (http_status is not None and http_status >= 500)
    for name, report in checks.items():
        results.append(_judge_check(str(name), report, latency_budget_ms, critical=fatal))
    detail = "" if overall == "ok" else f"status is {status!r}"
    if http_status is not None and http_status >= 500 and overall == "ok":
        overall, detail = "failed", f"HTTP {http_status} with status {status!r}"
    if overall == "ok" and any(r.status == "failed" for r in results):
        overall, detail = "degraded", f"status is {status!r} but a check failed"
    if overall == "ok":
        detail = f"{len(results)} reported ok" if results else "no checks reported"
    return [*results, CheckResult(NAME, overall, 0.0, detail, http_status)]


def _judge_check(name: str, report: Any, budget: float | None, *, critical: bool) -> CheckResult:
    label = f"{NAME}:{name}"
    if not isinstance(report, dict):
        return CheckResult(label, "failed", 0.0, "report is not an object", critical=critical)
    said = report.get("critical")
    if isinstance(said, bool):
        critical = said
    latency = report.get("latency", report.get("latency_ms", 0))
    latency_ms = float(latency) if isinstance(latency, int | float) else 0.0
    raw = report.get("status")
    status: CheckStatus = _CHECK.get(raw, "failed") if isinstance(raw, str) else "failed"
    note = next((report[k] for k in ("detail", "error", "message") if k in report), "")
    detail = one_line(str(note)) if note else ""
    if status != "ok" and not detail:
        detail = f"status is {raw!r}"
    if status == "ok" and budget is not None and latency_ms > budget:
        status, detail = "degraded", f"{latency_ms:.0f} ms, over the {budget:g} ms budget"
    return CheckResult(label, status, latency_ms, detail, critical=critical)


@dataclass(frozen=True)
class DeepEndpoint:
    """GET ``base_url + path`` and judge the report."""

    base_url: str
    path: str = "/api/health/deep"
    timeout: float = 5.0
    critical: bool = True
    latency_budget_ms: float | None = None
    level: int = LEVEL

    @property
    def name(self) -> str:
        return NAME

    async def run(self, http: httpx.AsyncClient) -> list[CheckResult]:
        start = time.perf_counter()
        url = self.base_url.rstrip("/") + self.path
        # 503 is how a deep endpoint says "unhealthy": its body still tells which check failed.
        expect = Expectation(status=(200, 503), json=True)
        answer = await send(http, NAME, "GET", url, timeout=self.timeout, expect=expect)
        first = answer.result
        if first.status == "failed":
            return [first]
        results = judge_report(answer.body, self.latency_budget_ms, first.http_status)
        total_ms = (time.perf_counter() - start) * 1000
        *checks, endpoint = results
        return [
            *checks,
            CheckResult(NAME, endpoint.status, total_ms, endpoint.detail, first.http_status),
        ]
