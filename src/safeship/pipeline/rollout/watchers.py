"""The bake's watchers that need the release itself: its process, its health checks (levels
1-3) and its resources. Each is a :class:`~safeship.analysis.bake.Watcher` built once per
deployment, so consecutive and sustained rules carry across steps into monitoring.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import httpx

from safeship.analysis.bake import Poll, sustain_span
from safeship.analysis.rules import Sustain, Verdict, resources_verdict
from safeship.config.models import EnvironmentSettings, RollbackRules
from safeship.health.base import CheckResult
from safeship.health.basic import check_http
from safeship.health.verify import ProcessResources, levels_configured, verify_levels_2_3
from safeship.pipeline.rules import (
    Streaks,
    check_failed_verdict,
    db_pool_verdict,
    degraded_dependency,
    intermittent_smoke,
)
from safeship.targets.base import Release, Target

# How often the release's processes are sampled (CPU, RSS) during a bake.
RESOURCE_INTERVAL = 0.5


class ProcessExit:
    """The release's process exited while serving traffic (``on_process_exit``); on a fleet,
    its process on any host. ``release``: the release as it is now (a fleet's grows by
    batches); ``interval``: seconds between looks (0: every poll)."""

    def __init__(
        self,
        target: Target,
        release: Callable[[], Release],
        rules: RollbackRules,
        *,
        interval: float = 0.0,
    ) -> None:
        self.target = target
        self.release = release
        self.rules = rules
        self.interval = interval
        self.next_look = 0.0

    def begin(self, now: float) -> None:
        self.next_look = now

    def observe(self, poll: Poll) -> Verdict | None:
        if not self.rules.on_process_exit or poll.now < self.next_look:
            return None
        self.next_look = poll.now + self.interval
        release = self.release()
        if self.target.is_alive(release):
            return None
        return Verdict(
            "process_exit",
            f"release {release.version} exited while serving traffic",
            {"pid": release.pid},
        )


class HealthWatch:
    """The level-1 health check every ``health.interval``: an HTTP 5xx rolls back at once
    (``on_health_5xx``), ``consecutive_failures`` failures in a row too."""

    def __init__(self, release: Release, settings: EnvironmentSettings) -> None:
        self.release = release
        self.settings = settings
        self.streaks = Streaks(settings.rollback)
        self.next_check = 0.0
        # One client for the whole rollout: a new one per check would build a TLS context
        # each time.
        self.http = httpx.Client(timeout=settings.health.timeout, trust_env=False)

    def begin(self, now: float) -> None:
        self.next_check = now  # a bake starts with a check

    def observe(self, poll: Poll) -> Verdict | None:
        if poll.now < self.next_check:
            return None
        health = self.settings.health
        result = check_http(self.release.url, health, self.http)
        self.next_check = poll.now + health.interval
        status = result.http_status or 0
        if self.settings.rollback.on_health_5xx and status >= 500:
            return Verdict(
                "health_5xx",
                f"health check answered HTTP {status}",
                {"http_status": status, "detail": result.detail},
            )
        return self.streaks.observe("health_failures", None if result.ok else result)

    def close(self) -> None:
        self.http.close()


class ChecksWatch:
    """The deep/dependency and smoke checks (levels 2-3) re-run every ``checks_interval`` in a
    thread, so a slow check never delays the other rules; their latest results judged.

    The database pool's use from the latest results is read by :class:`DbPoolWatch`.
    """

    def __init__(self, release: Release, settings: EnvironmentSettings) -> None:
        self.release = release
        self.settings = settings
        self.streaks = Streaks(settings.rollback)
        self.pool: ThreadPoolExecutor | None = None
        self.running: Future[list[CheckResult]] | None = None
        self.next_run = 0.0
        self.db_pool_now: Verdict | None = None

    def begin(self, now: float) -> None:
        pass  # the interval runs across bakes

    def observe(self, poll: Poll) -> Verdict | None:
        rules, health = self.settings.rollback, self.settings.health
        if rules.checks_interval <= 0 or not levels_configured(health):
            return None
        now = poll.now
        if self.running is None:
            if self.pool is None:
                self.pool = ThreadPoolExecutor(1, thread_name_prefix="safeship-checks")
                self.next_run = now + rules.checks_interval  # they just ran before traffic
            if now >= self.next_run:
                self.running = self.pool.submit(verify_levels_2_3, self.release.url, health)
            return None
        if not self.running.done():
            return None
        future, self.running = self.running, None
        self.next_run = now + rules.checks_interval
        try:
            results = future.result()
        except Exception:
            return None  # e.g. a variable unset since verification: it was checked then
        self.db_pool_now = db_pool_verdict(results, rules)
        return (
            check_failed_verdict(results)
            or self.streaks.observe("dependency_degraded", degraded_dependency(results))
            or self.streaks.observe("smoke_failures", intermittent_smoke(results))
        )

    def close(self) -> None:
        if self.pool is not None:
            # A check still running ends within its own timeout; nobody waits for it.
            self.pool.shutdown(wait=False, cancel_futures=True)


class ResourcesWatch:
    """The release's CPU and RSS over ``resource_utilization``, sustained for the window
    (a local release: its pid is known)."""

    def __init__(self, pid: int, rules: RollbackRules, now: float) -> None:
        # Created before traffic moves: its first scan of the process table must not happen
        # beside the canary's first requests, which would look slower for it.
        self.resources = ProcessResources(pid)
        self.rules = rules
        self.sampled_at = now
        self.current: Verdict | None = None
        self.sustain = Sustain()

    def begin(self, now: float) -> None:
        pass

    def observe(self, poll: Poll) -> Verdict | None:
        if poll.now - self.sampled_at >= RESOURCE_INTERVAL:
            cpu, rss = self.resources.read()
            self.current = resources_verdict(cpu, rss, self.rules)
            self.sampled_at = poll.now
        span = sustain_span(self.rules, poll.phase)
        return self.sustain.observe("resources", self.current, poll.now, span)


class DbPoolWatch:
    """The database pool's use (from the latest deep checks) at or over
    ``db_pool_utilization``, sustained for the window."""

    def __init__(self, checks: ChecksWatch, rules: RollbackRules) -> None:
        self.checks = checks
        self.rules = rules
        self.sustain = Sustain()

    def begin(self, now: float) -> None:
        pass

    def observe(self, poll: Poll) -> Verdict | None:
        span = sustain_span(self.rules, poll.phase)
        return self.sustain.observe("db_pool", self.checks.db_pool_now, poll.now, span)
