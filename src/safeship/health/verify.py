"""The levels as the pipeline and the CLI use them: run, judge, explain.

Level 1 is safeship.health.basic (synchronous, with retries while a release starts). Levels 2
and 3 run here on one event loop with a bounded HTTP client: level 2 first (the app's deep
endpoint and the dependency checks, all at once), then level 3 (the smoke flows, all at once)
unless level 2 already stopped the release. Level 4 (baseline) compares a sample with the
previous good deployment's stored figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import httpx

from safeship.config.health import BaselineSettings, HealthSettings
from safeship.health.base import CheckResult
from safeship.health.baseline import Baseline, _Resources, as_result, compare, measure
from safeship.health.resolve import deep_probes, smoke_probes
from safeship.health.runner import run_coroutine, run_probes
from safeship.registry.records import BaselineRecord

LEVEL_NAMES = {1: "basic", 2: "deep", 3: "smoke", 4: "baseline"}

# The pipeline samples a release's CPU and RSS during bakes with level 4's psutil sampler.
ProcessResources = _Resources


def stopping(results: Sequence[CheckResult], fail_on_degraded: bool = False) -> CheckResult | None:
    """The first result that stops a release: a failed critical check (or, by policy, any
    check not ok), or None."""
    for result in results:
        if result.blocking or (fail_on_degraded and not result.ok):
            return result
    return None


def reason(result: CheckResult) -> str:
    """One line for the registry and `safeship history`: which check, and why."""
    detail = f": {result.detail}" if result.detail else ""
    return f"{LEVEL_NAMES.get(result.level, 'health')} check {result.name} {result.status}{detail}"


def levels_configured(settings: HealthSettings) -> bool:
    smoke = settings.smoke is not None and bool(settings.smoke.flows)
    return settings.deep is not None or bool(settings.checks) or smoke


def verify_levels_2_3(
    base_url: str, settings: HealthSettings, environ: Mapping[str, str] | None = None
) -> list[CheckResult]:
    """Run the configured deep checks, then the smoke flows; [] when none is configured.

    Raises safeship.health.resolve.ResolveError when a variable a check needs is not set.
    """
    deep = deep_probes(base_url, settings, environ)
    smoke = smoke_probes(base_url, settings, environ)
    if not deep and not smoke:
        return []
    limit = settings.max_connections

    async def levels(http: httpx.AsyncClient) -> list[CheckResult]:
        results = await run_probes(deep, http, limit)
        if stopping(results, settings.fail_on_degraded) is None:
            results += await run_probes(smoke, http, limit)
        return results

    return run_coroutine(levels, limit)


@dataclass(frozen=True)
class BaselineReport:
    current: Baseline
    previous: Baseline | None
    previous_version: str | None
    regressions: list[str]
    result: CheckResult

    def as_dict(self) -> dict[str, object]:
        """The sample, what it was compared with and the regressions, as JSON data."""
        return {
            **self.current.as_dict(),
            "compared_with": self.previous_version if self.previous else None,
            "regressions": self.regressions,
        }

    def as_record(
        self, environment: str, version: str, deployment_id: str | None
    ) -> BaselineRecord:
        """The sample as the registry keeps it: the environment's next release compares with it."""
        current = self.current
        return BaselineRecord(
            environment=environment,
            version=version,
            path=current.path,
            sample_count=current.requests,
            errors=current.errors,
            error_rate=current.error_rate,
            mean_ms=current.mean_ms,
            p50_ms=current.p50_ms,
            p95_ms=current.p95_ms,
            p99_ms=current.p99_ms,
            duration_s=current.duration_s,
            cpu_percent=current.cpu_percent,
            rss_mb=current.rss_mb,
            compared_with=self.previous_version if self.previous else None,
            deployment_id=deployment_id,
        )


def stored_baseline(record: BaselineRecord | None) -> Baseline | None:
    """A baseline the registry kept (``BaselineReport.as_record``), to compare a release with."""
    if record is None:
        return None
    return Baseline(
        path=record.path,
        requests=record.sample_count,
        errors=record.errors,
        mean_ms=record.mean_ms,
        p50_ms=record.p50_ms,
        p95_ms=record.p95_ms,
        p99_ms=record.p99_ms,
        duration_s=record.duration_s or 0.0,
        cpu_percent=record.cpu_percent,
        rss_mb=record.rss_mb,
    )


def run_baseline(
    base_url: str,
    settings: BaselineSettings,
    *,
    pid: int | None = None,
    previous: Baseline | None = None,
    previous_version: str | None = None,
    max_connections: int = 10,
) -> BaselineReport:
    """Sample the release and compare with ``previous`` (the stored baseline, if any).

    A previous baseline of another path is not comparable and is ignored.
    """

    async def sample(http: httpx.AsyncClient) -> Baseline:
        return await measure(http, base_url, settings, pid)

    current = run_coroutine(sample, max(max_connections, settings.concurrency))
    before = previous
    if before is not None and before.path != current.path:
        before = None
    regressions = compare(current, before, settings) if before is not None else []
    result = as_result(current, before, regressions, settings, previous_version)
    return BaselineReport(current, before, previous_version, regressions, result)
