"""Watching a serving environment between deploys (`safeship watch`, and `safeship serve`).

Each check looks at the release the environment's last successful deployment put in service:

- ``health.degraded``: its health checks, level 1 (``/api/health``) and level 2 (the deep
  endpoint and the dependency checks, when configured), are not all ok;
- ``error_rate.high``: over the interval since the previous check, its share of 5xx and
  connection errors (from the environment's MetricSource) is over ``[watch].error_rate``;
- ``latency.high``: over the same interval, its p95 latency is over ``[watch].latency_ratio``
  times the p95 of the release's stored baseline (level 4; no baseline, no judgement).

A condition that begins publishes ``watch.degraded``, one that clears ``watch.recovered``
(attributes: ``condition`` and its figures) on the session's event bus; the alerts route them.
An interval with fewer than ``min_requests`` requests judges neither rate nor latency (they
stay as they were) and its window grows into the next check's. While a deployment runs in the
environment, its own rules watch: the check is skipped.

State: the conditions in force and the last counter reading are kept in the environment's run
directory (``watch.json``), so a restarted watcher (or `watch --once` from cron) neither
repeats a ``watch.degraded`` for a condition already reported nor misses a recovery, and its
first window starts where the previous run's last one ended. Without that file the first
window is the release's counters since it took traffic.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Literal

from safeship._files import write_private_json
from safeship.analysis.metrics import CountingSource, RouterMetrics
from safeship.config import LoadedConfig
from safeship.config.watch import WatchSettings
from safeship.events.model import Event
from safeship.health.base import CheckResult, overall
from safeship.redaction import redact
from safeship.routing.base import BackendStats

if TYPE_CHECKING:
    from safeship.pipeline.operations import Session
    from safeship.registry import DeploymentRecord

Condition = Literal["health.degraded", "error_rate.high", "latency.high"]
CONDITIONS: Final[tuple[Condition, ...]] = ("health.degraded", "error_rate.high", "latency.high")
STATE_FILE: Final = "watch.json"


@dataclass(frozen=True)
class WatchReport:
    """One check: what served, what was seen, and the conditions that began or cleared."""

    environment: str
    at: datetime
    version: str | None  # the serving release; None: nothing deployed yet
    skipped: str | None = None  # why nothing was checked (a deploy running, nothing served)
    failed: bool = False  # the check itself failed (``skipped`` says why)
    health: tuple[CheckResult, ...] = ()
    requests: int = 0
    errors: int = 0
    error_rate: float | None = None  # None: fewer requests than min_requests
    p95_ms: float | None = None
    baseline_p95_ms: float | None = None
    active: dict[str, dict[str, Any]] = field(default_factory=dict)  # conditions in force
    began: tuple[str, ...] = ()
    cleared: tuple[str, ...] = ()
    next_interval: float = 0.0

    @property
    def healthy(self) -> bool:
        return not self.active


def metric_source(session: Session) -> CountingSource:
    """The router's own counters: watch keeps its last reading of them across runs
    (``watch.json``), so a check from cron judges the traffic since the previous one. A source
    that reads windows by time (Prometheus) is the deploy's rules' and judge's, not watch's yet."""
    return RouterMetrics(session.env.router, session.env.name)


def judge(
    settings: WatchSettings,
    health: list[CheckResult],
    window: BackendStats,
    baseline_p95_ms: float | None,
    interval_s: float | None,
) -> dict[str, dict[str, Any] | None]:
    """Each condition judged now: its figures when it holds, None when it does not; a
    condition not judged (too few requests, no baseline) is left out."""
    status = overall(health)
    failing = [
        {"name": r.name, "level": r.level, "status": r.status, "detail": r.detail}
        for r in health
        if not r.ok
    ]
    judged: dict[str, dict[str, Any] | None] = {
        "health.degraded": None if status == "healthy" else {"status": status, "checks": failing}
    }
    if window.requests < settings.min_requests:
        return judged
    figures = {"requests": window.requests, "errors": window.errors, "interval_s": interval_s}
    rate = window.error_rate
    judged["error_rate.high"] = (
        figures | {"error_rate": round(rate, 4), "threshold": settings.error_rate}
        if rate > settings.error_rate
        else None
    )
    p95 = window.latency_quantile_ms(0.95)
    if p95 is not None and baseline_p95_ms:
        ratio = p95 / baseline_p95_ms
        judged["latency.high"] = (
            figures
            | {
                "p95_ms": _round(p95),
                "baseline_p95_ms": round(baseline_p95_ms, 1),
                "ratio": _round(ratio),
                "threshold": settings.latency_ratio,
            }
            if ratio > settings.latency_ratio
            else None
        )
    return judged


class Watcher:
    """Checks one environment when asked (:meth:`check`), remembering what it saw."""

    def __init__(
        self,
        session: Session,
        settings: WatchSettings,
        metrics: CountingSource | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.session = session
        self.settings = settings
        self.metrics = metrics or metric_source(session)
        self.now = now
        self._state_path = session.env.run_dir / STATE_FILE
        state = _read_state(self._state_path)
        conditions = state.get("conditions")
        self.active: dict[str, dict[str, Any]] = (
            {k: v for k, v in conditions.items() if k in CONDITIONS and isinstance(v, dict)}
            if isinstance(conditions, dict)
            else {}
        )
        self._version: str | None = state.get("version")
        self._reading: BackendStats | None = _stats(state.get("reading"))
        self._reading_at: datetime | None = _time(state.get("reading_at"))

    def interval(self) -> float:
        """Seconds to the next check: elevated while the last deploy is recent."""
        history = self.session.registry.history(self.session.env.name, limit=1)
        completed = history[0].completed_at if history else None
        if completed is not None:
            age = (self.now() - completed).total_seconds()
            if age < self.settings.elevated_window:
                return min(self.settings.elevated_interval, self.settings.interval)
        return self.settings.interval

    def check(self) -> WatchReport:
        registry, name = self.session.registry, self.session.env.name
        at = self.now()
        if registry.active(name):
            return WatchReport(name, at, None, skipped="a deployment is running: its rules watch",
                               active=dict(self.active), next_interval=self.interval())  # fmt: skip
        serving = registry.last_succeeded(name)
        if serving is None:
            return WatchReport(name, at, None, skipped="nothing deployed yet",
                               next_interval=self.interval())  # fmt: skip
        if serving.version != self._version:  # a new release: its counters
            self._reading = self._reading_at = None
            self._version = serving.version
        health = self._health(serving)
        window, reading = self._window(serving.version)
        judged = window.requests >= self.settings.min_requests
        baseline = registry.baseline_for(name, serving.version)
        baseline_p95 = baseline.p95_ms if baseline is not None else None
        since = self._reading_at if self._reading is not None else None
        interval_s = round((at - since).total_seconds(), 1) if since is not None else None
        now_conditions = judge(self.settings, health, window, baseline_p95, interval_s)
        began, cleared = self._transitions(serving, now_conditions)
        # A window too small to judge grows into the next check's instead.
        if judged and reading is not None:
            self._reading, self._reading_at = reading, at
        self._save()
        return WatchReport(
            environment=name,
            at=at,
            version=serving.version,
            health=tuple(health),
            requests=window.requests,
            errors=window.errors,
            error_rate=window.error_rate if judged else None,
            p95_ms=window.latency_quantile_ms(0.95) if judged else None,
            baseline_p95_ms=baseline_p95,
            active=dict(self.active),
            began=tuple(began),
            cleared=tuple(cleared),
            next_interval=self.interval(),
        )

    # -- the parts --------------------------------------------------------------------------

    def _health(self, serving: DeploymentRecord) -> list[CheckResult]:
        """Levels 1 and 2 against the serving release (its own URL, else the router's port)."""
        from safeship.health.basic import check_http
        from safeship.health.resolve import ResolveError, deep_probes
        from safeship.health.runner import run_sync
        from safeship.targets.base import TargetError

        env = self.session.env
        url = f"http://127.0.0.1:{env.settings.port}" if env.settings.port else None
        results: list[CheckResult] = []
        try:
            releases = env.target.releases()
        except TargetError:  # e.g. a platform's API down: the router's port answers for it
            releases = []
        else:
            if not any(r.version == serving.version for r in releases):
                results.append(
                    CheckResult("running", "failed", 0.0, f"{serving.version} is not running")
                )
        release = next((r for r in releases if r.version == serving.version), None)
        if release is not None and release.url:
            url = release.url
        if url is None:
            return [*results, CheckResult("basic", "failed", 0.0, "no URL to check")]
        settings = env.settings.health
        results.append(check_http(url, settings))
        try:
            results += run_sync(deep_probes(url, settings), settings.max_connections)
        except ResolveError as exc:
            results.append(CheckResult("deep", "failed", 0.0, str(exc), level=2))
        return results

    def _window(self, version: str) -> tuple[BackendStats, BackendStats | None]:
        """The serving release's figures since the previous reading, and the reading now."""
        try:
            totals = self.metrics.totals().get(version, BackendStats())
        except Exception:  # a router or metrics outage: no figures this time
            return BackendStats(), self._reading
        previous = self._reading
        if previous is None or totals.requests < previous.requests:  # the counters restarted
            return totals, totals
        return totals.minus(previous), totals

    def _transitions(
        self, serving: DeploymentRecord, now: dict[str, dict[str, Any] | None]
    ) -> tuple[list[str], list[str]]:
        began: list[str] = []
        cleared: list[str] = []
        for condition in CONDITIONS:
            if condition not in now:  # not judged this time: as it was
                continue
            figures = now[condition]
            if figures is not None and condition not in self.active:
                self.active[condition] = figures
                began.append(condition)
                self._publish("watch.degraded", serving, condition, figures)
            elif figures is None and condition in self.active:
                since = self.active.pop(condition)
                cleared.append(condition)
                self._publish("watch.recovered", serving, condition, {"was": since})
            elif figures is not None:
                self.active[condition] = figures  # still in force: its latest figures
        return began, cleared

    def _publish(
        self,
        name: Literal["watch.degraded", "watch.recovered"],
        serving: DeploymentRecord,
        condition: str,
        figures: dict[str, Any],
    ) -> None:
        self.session.bus.publish(
            Event(
                event=name,
                environment=self.session.env.name,
                version=serving.version,
                commit=serving.commit_sha,
                triggered_by="watch",
                attributes={"condition": condition, "deployment": serving.id, **figures},
            )
        )

    def _save(self) -> None:
        reading = dataclasses.asdict(self._reading) if self._reading is not None else None
        at = self._reading_at.isoformat() if self._reading_at is not None else None
        state = {
            "version": self._version,
            "conditions": self.active,
            "reading": reading,
            "reading_at": at,
        }
        # A read-only run directory: the state lives as long as the process.
        with contextlib.suppress(OSError):
            write_private_json(self._state_path, state)


def watch(
    loaded: LoadedConfig,
    environment: str,
    *,
    interval: float | None = None,
    once: bool = False,
    duration: float | None = None,
    on_report: Callable[[WatchReport], None] | None = None,
    stop: threading.Event | None = None,
    metrics: CountingSource | None = None,
    max_checks: int | None = None,
) -> int:
    """Check ``environment`` until ``duration`` seconds have passed, ``stop`` is set,
    ``max_checks`` checks were made, or Ctrl-C (KeyboardInterrupt, to the caller); once with
    ``once``. ``interval``: fixed seconds between checks (default: [watch]'s, elevated after a
    deploy). The number of checks made."""
    from safeship.pipeline.operations import open_session

    stopping = stop or threading.Event()
    deadline = None if duration is None else time.monotonic() + duration
    checks = 0
    with open_session(loaded, environment) as session:
        watcher = Watcher(session, loaded.config.watch, metrics)
        while True:
            try:
                report = watcher.check()
            except Exception as exc:  # a registry or target outage: the next check may pass
                report = WatchReport(
                    environment, datetime.now(UTC), None,
                    skipped=f"check failed: {type(exc).__name__}: {redact(str(exc))}"[:500],
                    active=dict(watcher.active), next_interval=loaded.config.watch.interval,
                    failed=True,
                )  # fmt: skip
            checks += 1
            if on_report is not None:
                on_report(report)
            if once or (max_checks is not None and checks >= max_checks):
                return checks
            wait = interval if interval is not None else report.next_interval
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    return checks
            if stopping.wait(wait):
                return checks


def _read_state(path: Any) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _stats(data: Any) -> BackendStats | None:
    if not isinstance(data, dict):
        return None
    try:
        return BackendStats.from_json(data)
    except (KeyError, TypeError, ValueError):
        return None


def _time(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        return None


def _round(value: float) -> float | str:
    """A figure for JSON: rounded; infinity (the open last latency bucket) as text."""
    return round(value, 2) if value != float("inf") else "inf"
