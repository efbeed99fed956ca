"""One deployment, start to finish: deploy, verify, shift traffic step by step, judge, roll back.

Every status change is written to the registry before the side effect it announces
(write-ahead), so a crash of safeship leaves a record of what it was doing. The release and
the router are separate processes: this module only starts them, moves weights and watches.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from safeship.analysis.judge import BakeDecision, CanaryBake, Judgement
from safeship.config.models import EnvironmentSettings
from safeship.events import Event, EventBus, EventName
from safeship.health.base import CheckResult
from safeship.health.base import score as check_score
from safeship.health.basic import check_http, wait_until_healthy
from safeship.health.resolve import ResolveError
from safeship.health.verify import (
    ProcessResources,
    levels_configured,
    run_baseline,
    stopping,
    verify_levels_2_3,
)
from safeship.health.verify import reason as check_reason
from safeship.pipeline.drain import Drained, drain
from safeship.pipeline.intent import safe_clear, write_intent
from safeship.pipeline.rules import (
    Streaks,
    Sustain,
    Verdict,
    check_failed_verdict,
    db_pool_verdict,
    degraded_dependency,
    error_rate_verdict,
    health_score,
    intermittent_smoke,
    latency_verdict,
    resources_verdict,
)
from safeship.pipeline.states import TAKES_TRAFFIC, TERMINAL, Status, check_transition
from safeship.redaction import redact, redact_data
from safeship.registry import Registry
from safeship.routing.base import Backend, BackendStats, Router
from safeship.targets.base import Release, Target, TargetError

# How often the bake loop looks at the release process and the router's stats.
POLL_INTERVAL = 0.1
# How often the release's processes are sampled (CPU, RSS) during a bake.
RESOURCE_INTERVAL = 0.5
# How often the canary judge's latest figures are written to the registry (`safeship status`).
JUDGEMENT_SAVE_INTERVAL = 1.0
# How often a bake reads the registry for `safeship abort` (any time) / `safeship promote`
# (at a pause).
REQUEST_POLL_INTERVAL = 0.25
# Snapshots of the router's stats kept per sustain window, for the latency over the last window.
WINDOW_SNAPSHOTS = 100


@dataclass(frozen=True)
class LiveSnapshot:
    """What a live view shows while a deployment runs."""

    deployment_id: str
    environment: str
    version: str
    status: Status
    step: int | None
    weights: dict[str, int]
    window: dict[str, BackendStats]  # per release, since the current step began
    elapsed: float
    judgement: Judgement | None = None  # the canary judge's latest, at a judged step
    paused: bool = False  # waiting at the step for `safeship promote` / `safeship abort`


@dataclass
class DeploymentOutcome:
    deployment_id: str
    version: str
    status: Status
    reason: str | None = None
    traffic: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status is Status.SUCCEEDED


class DeployRefused(Exception):
    """The deployment was not started (nothing changed). The message is one line."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped a deployment; ``outcome`` says how it was left."""

    def __init__(self, outcome: DeploymentOutcome) -> None:
        super().__init__(f"{outcome.version} {outcome.status}: {outcome.reason}")
        self.outcome = outcome


class _Rollback(Exception):
    """Raised inside the bake loop when a rule fires: which rule, and its figures."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.reason)
        self.verdict = verdict


class Deployer:
    """Runs deployments of one environment. The caller holds the environment's lease."""

    def __init__(
        self,
        environment: str,
        settings: EnvironmentSettings,
        target: Target,
        router: Router,
        registry: Registry,
        bus: EventBus,
        on_progress: Callable[[LiveSnapshot], None] | None = None,
        env_gate: Callable[[], list[str]] | None = None,
        on_created: Callable[[str], None] | None = None,
        run_dir: Path | None = None,
    ) -> None:
        self.environment = environment
        self.settings = settings
        self.target = target
        self.router = router
        self.registry = registry
        self.bus = bus
        self._on_progress = on_progress
        # Checks the target's variables against the env schema; returns the problems (redacted).
        self.env_gate = env_gate
        # Told the new deployment's id once its row exists (the environment lease records it).
        self.on_created = on_created
        # Where a rollback writes its registry update before moving traffic (pipeline.intent);
        # None: no intent file (the registry write then follows the switch all the same).
        self.run_dir = run_dir

    # -- the deployment -------------------------------------------------------------------

    def deploy(
        self,
        version: str,
        *,
        commit: str | None = None,
        triggered_by: str = "cli",
        strategy: str | None = None,
        metadata: dict[str, Any] | None = None,
        bake: bool = True,
    ) -> DeploymentOutcome:
        """Run one deployment; ``metadata`` is stored with it from the start.

        ``bake=False`` (a manual rollback): once the release is healthy, all traffic moves to
        it at once, with no bake, no level-4 baseline and no monitoring window.
        """
        run = _Run(self, version, commit, triggered_by, strategy or self.settings.strategy)
        run.metadata = dict(metadata or {})
        run.bakes = bake
        return run.execute()


class _Run:
    """The state of one deployment while it runs."""

    def __init__(
        self,
        deployer: Deployer,
        version: str,
        commit: str | None,
        triggered_by: str,
        strategy: str,
    ) -> None:
        self.d = deployer
        self.version = version
        self.commit = commit
        self.triggered_by = triggered_by
        self.strategy = strategy
        self.status = Status.PENDING
        self.step: int | None = None
        self.release: Release | None = None
        self.stable: Backend | None = None
        self.started = time.monotonic()
        self.stats_at_start: dict[str, BackendStats] = {}
        self.deployment_id = ""
        # Health checks of the new release (levels 1-4), for the score and the registry.
        self.checks: list[CheckResult] = []
        # Recorded with the deployment row when it is created (e.g. the pre-push gate's verdict).
        self.metadata: dict[str, Any] = {}
        # The canary judge's latest decision at the current step (None when not judging).
        self.judgement: BakeDecision | None = None
        self.judgement_saved = 0.0
        self.paused = False
        # The rules' state over the whole rollout (it carries across steps into monitoring).
        rules = deployer.settings.rollback
        self.streaks = Streaks(rules)
        self.sustain = Sustain()
        # (when, router stats): snapshots for the stats over the last sustain window.
        self.snapshots: deque[tuple[float, dict[str, BackendStats]]] = deque()
        # The release's CPU and RSS sampler (psutil), for a local release (its pid is known).
        self.resources: ProcessResources | None = None
        self.resources_at = 0.0
        self.resources_now: Verdict | None = None
        # The deep/dependency and smoke checks re-run in a thread during bakes, so a slow
        # check never delays the other rules.
        self.checks_pool: ThreadPoolExecutor | None = None
        self.checks_running: Future[list[CheckResult]] | None = None
        self.checks_next = 0.0
        self.db_pool_now: Verdict | None = None
        self.stored_p95: float | None = None
        self.stored_p95_read = False
        # False: a manual rollback, traffic moves at once (Deployer.deploy's ``bake``).
        self.bakes = True
        # When each release left traffic (monotonic), for the drain before its stop.
        self.left_traffic: dict[str, float] = {}

    # -- bookkeeping ----------------------------------------------------------------------

    def emit(self, name: EventName, **attributes: Any) -> None:
        self.d.bus.publish(
            Event(
                event=name,
                deployment_id=self.deployment_id or None,
                environment=self.d.environment,
                version=self.version,
                commit=self.commit,
                triggered_by=self.triggered_by,
                attributes=attributes,
            )
        )

    def advance(self, status: Status, *, best_effort: bool = False, **fields: Any) -> bool:
        """Record the new status (write-ahead), then let the caller act on it; whether the
        registry took it (False only when ``best_effort``)."""
        check_transition(self.status, status)
        try:
            self.d.registry.update_deployment(self.deployment_id, status=status.value, **fields)
        except Exception:
            if not best_effort:
                raise
            # A registry outage must not keep a rollback from finishing.
            self.status = status
            return False
        self.status = status
        return True

    def progress(self, window: dict[str, BackendStats] | None = None) -> None:
        if self.d._on_progress is None:
            return
        try:
            weights = {b.name: b.weight for b in self.d.router.backends()}
        except Exception:
            weights = {}
        self.d._on_progress(
            LiveSnapshot(
                deployment_id=self.deployment_id,
                environment=self.d.environment,
                version=self.version,
                status=self.status,
                step=self.step,
                weights=weights,
                window=window or {},
                elapsed=time.monotonic() - self.started,
                judgement=self.judgement.judgement if self.judgement else None,
                paused=self.paused,
            )
        )

    # -- stages ---------------------------------------------------------------------------

    def execute(self) -> DeploymentOutcome:
        d = self.d
        d.router.ensure_running()
        backends = d.router.backends()
        if any(b.name == self.version and b.weight > 0 for b in backends):
            raise DeployRefused(f"{self.version} is already serving {d.environment}")
        self.stable = _serving_backend(backends, exclude=self.version)
        self.deployment_id = d.registry.create_deployment(
            d.environment,
            self.version,
            self.commit,
            self.triggered_by,
            metadata={
                **self.metadata,
                "strategy": self.strategy if self.stable else "all-at-once",
                "stable_version": self.stable.name if self.stable else None,
            },
        )
        if d.on_created is not None:
            d.on_created(self.deployment_id)
        self.emit("deployment.started", strategy=self.strategy)
        try:
            failure = self.validate_env() or self.start_release() or self.verify_release()
            if failure:
                return self.fail(failure)
            return self.shift_traffic()
        # Ctrl-C, SIGTERM, a router outage: never leave the environment half-shifted.
        except BaseException as exc:
            reason = _interruption_reason(exc)
            if self.status in TAKES_TRAFFIC:
                rule = "interrupted" if isinstance(exc, KeyboardInterrupt) else "error"
                outcome = self.roll_back(Verdict(rule, reason, {"status": self.status.value}))
            elif self.status in TERMINAL:
                raise
            else:
                self.stop_release()
                self.advance(
                    Status.ABORTED, best_effort=True, rollback_reason=reason, completed=True
                )
                self.emit("deployment.aborted", reason=reason)
                outcome = DeploymentOutcome(
                    self.deployment_id, self.version, Status.ABORTED, reason
                )
            if isinstance(exc, KeyboardInterrupt):
                raise Interrupted(outcome) from exc
            raise

    def validate_env(self) -> str | None:
        """The env gate: an invalid environment fails the deployment before any release starts."""
        if self.d.env_gate is None:
            return None
        self.advance(Status.VALIDATING)
        self.emit("stage.started", stage="env")
        self.progress()
        problems = self.d.env_gate()
        if problems:
            count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
            reason = f"environment check failed ({count}): " + "; ".join(problems)
            self.emit("stage.failed", stage="env", reason=reason, problems=problems)
            return reason
        self.emit("stage.passed", stage="env")
        return None

    def start_release(self) -> str | None:
        self.advance(Status.DEPLOYING)
        self.emit("stage.started", stage="deploy")
        self.progress()
        try:
            self.release = self.d.target.deploy(self.version, commit=self.commit)
        except TargetError as exc:
            self.emit("stage.failed", stage="deploy", reason=str(exc))
            return str(exc)
        self.d.registry.update_deployment(
            self.deployment_id,
            metadata={"release": {"port": self.release.port, "pid": self.release.pid}},
        )
        self.emit("stage.passed", stage="deploy", port=self.release.port)
        return None

    def verify_release(self) -> str | None:
        assert self.release is not None
        release = self.release
        self.advance(Status.VERIFYING)
        self.emit("stage.started", stage="verify")
        self.progress()
        result = wait_until_healthy(
            release.url, self.d.settings.health, lambda: self.d.target.is_alive(release)
        )
        self.record_checks([result])
        reason: str | None
        if result.status != "ok":
            reason = f"health check failed: {result.detail}"
            if not self.d.target.is_alive(release):
                reason = f"release {self.version} exited before it became healthy ({result.detail})"
        else:
            reason = self.verify_deep_and_smoke(release)
        if reason:
            self.emit("stage.failed", stage="verify", reason=reason)
            self.stop_release()
            return reason
        self.emit("stage.passed", stage="verify")
        return None

    def verify_deep_and_smoke(self, release: Release) -> str | None:
        """Levels 2 and 3 (when configured), before any traffic moves; why they stop it."""
        health = self.d.settings.health
        try:
            results = verify_levels_2_3(release.url, health)
        except ResolveError as exc:
            return f"health checks cannot run: {exc}"
        self.record_checks(results)
        failed = stopping(results, health.fail_on_degraded)
        return check_reason(failed) if failed else None

    def record_checks(self, results: list[CheckResult]) -> None:
        """A check.completed event per result; the checks and their score to the registry."""
        for result in results:
            self.emit(
                "check.completed",
                check=result.name,
                status=result.status,
                latency_ms=round(result.latency_ms, 1),
                detail=result.detail,
                level=result.level,
                critical=result.critical,
            )
        self.checks += results
        self.d.registry.update_deployment(
            self.deployment_id,
            health_score=check_score(self.checks),
            # Details may quote an answer that quotes a secret.
            metadata={"checks": redact_data([r.as_dict() for r in self.checks])},
        )

    def check_baseline(self) -> None:
        """Level 4 before promotion: sample the release, store it, compare with the last good."""
        assert self.release is not None
        health = self.d.settings.health
        if health.baseline is None:
            return
        previous = self.d.registry.last_succeeded(self.d.environment, before=self.deployment_id)
        report = run_baseline(
            self.release.url,
            health.baseline,
            pid=self.release.pid,
            previous=previous.metadata.get("baseline") if previous else None,
            previous_version=previous.version if previous else None,
            max_connections=health.max_connections,
        )
        self.d.registry.update_deployment(
            self.deployment_id, metadata={"baseline": report.as_metadata()}
        )
        self.record_checks([report.result])
        if report.result.status == "failed":
            figures = {"regressions": report.regressions, **report.current.as_dict()}
            raise _Rollback(Verdict("baseline", check_reason(report.result), figures))

    def shift_traffic(self) -> DeploymentOutcome:
        assert self.release is not None
        d = self.d
        canary = self.stable and self.strategy == "canary" and self.bakes
        steps = d.settings.steps if canary else [100]
        # The rules' one-off reads (a scan of the process table, a registry query) happen now,
        # not beside the canary's first requests, which would look slower for it.
        if self.release.pid is not None:
            self.resources = ProcessResources(self.release.pid)
            self.resources_at = time.monotonic()
        self.stored_baseline_p95()
        self.stats_at_start = d.router.stats()
        try:
            for step in steps:
                self.step = step
                self.advance(Status.PROGRESSING, current_step=step)
                self.set_weights(step)
                if not self.bakes:
                    continue
                self.bake(d.settings.bake_time, self.canary_analysis(step))
                if step in d.settings.pause_at and self.stable is not None:
                    self.pause(step)
            if self.bakes:
                self.check_baseline()
                self.monitor()
        except _Rollback as rule:
            return self.roll_back(rule.verdict)
        finally:
            if self.checks_pool is not None:
                # A check still running ends within its own timeout; nobody waits for it.
                self.checks_pool.shutdown(wait=False, cancel_futures=True)
        return self.promote()

    def set_weights(self, step: int) -> None:
        assert self.release is not None
        backends = [Backend(self.version, self.release.url, step)]
        if self.stable and step < 100:
            backends.append(Backend(self.stable.name, self.stable.url, 100 - step))
        self.d.router.set_backends(backends)
        if self.stable and step >= 100:
            self.left_traffic[self.stable.name] = time.monotonic()
        self.emit(
            "traffic.shifted",
            step=step,
            weights={b.name: b.weight for b in backends},
        )

    def canary_analysis(self, step: int) -> CanaryBake | None:
        """The judge for this step: only with ``analysis`` set and a stable release to compare."""
        judge = self.d.settings.analysis
        if judge is None or self.stable is None or step >= 100:
            return None
        return CanaryBake(judge, self.d.settings.bake_time)

    def monitor(self) -> None:
        """After full traffic, keep the rules running for the monitoring window (blue-green:
        while blue is kept warm). The previous release runs until it ends, for a rollback; a
        first deployment has none to go back to, so it is not monitored."""
        settings = self.d.settings
        seconds = settings.monitor_time
        if self.strategy == "blue-green":
            seconds = max(seconds, settings.blue_green.keep_warm)
        if seconds <= 0 or self.stable is None:
            return
        self.advance(Status.MONITORING)
        self.emit("stage.started", stage="monitor", seconds=seconds)
        self.bake(seconds)
        self.emit("stage.passed", stage="monitor")

    def pause(self, step: int) -> None:
        """Wait at ``step`` for `safeship promote` (next step) or `safeship abort` (roll back),
        the rules still running; no answer in ``pause_timeout`` seconds rolls back."""
        timeout = self.d.settings.pause_timeout
        # "request" is left as it is: an abort asked for just before the pause still counts.
        self.d.registry.update_deployment(self.deployment_id, metadata={"paused_at": step})
        self.emit("stage.started", stage="pause", step=step, timeout=timeout)
        self.paused = True
        try:
            self.bake(timeout)
        finally:
            self.paused = False
            with contextlib.suppress(Exception):
                self.d.registry.update_deployment(
                    self.deployment_id, metadata={"paused_at": None, "request": None}
                )
        self.emit("stage.passed", stage="pause", step=step)

    def read_request(self, *, timed_out: bool) -> bool:
        """`safeship abort` / `safeship rollback` (at any time) raise _Rollback; at a pause,
        True on `safeship promote`, and _Rollback once the pause timed out; else False."""
        try:
            record = self.d.registry.get(self.deployment_id)
        except Exception:
            record = None  # a registry hiccup must not roll back a healthy release
        metadata = record.metadata if record else {}
        request = metadata.get("request")
        where = f"at {self.step}%" + (
            " while monitoring" if self.status is Status.MONITORING else ""
        )
        if request == "abort":
            by = metadata.get("requested_by") or "abort"
            raise _Rollback(
                Verdict(
                    "manual",
                    f"aborted {where} by `safeship {by}`",
                    {"step": self.step, "status": self.status.value, "by": f"safeship {by}"},
                )
            )
        if not self.paused:
            return False
        if request == "promote":
            return True
        if timed_out:
            timeout = self.d.settings.pause_timeout
            raise _Rollback(
                Verdict(
                    "pause_timeout",
                    f"paused at {self.step}% for {timeout:g} s without `safeship promote`",
                    {"step": self.step, "timeout_s": timeout},
                )
            )
        return False

    def bake(self, seconds: float, analysis: CanaryBake | None = None) -> None:
        """Watch the release for ``seconds`` (longer while the judge extends it); raise
        _Rollback when a rule or the judge fires."""
        assert self.release is not None
        # One client for the whole bake: a new one per check would build a TLS context each time.
        with httpx.Client(timeout=self.d.settings.health.timeout, trust_env=False) as http:
            try:
                self._watch(self.release, http, seconds, analysis)
            finally:
                if analysis is not None:
                    self.save_judgement(force=True)
                    self.judgement = None

    def _watch(
        self, release: Release, http: httpx.Client, seconds: float, analysis: CanaryBake | None
    ) -> None:
        settings = self.d.settings
        rules = settings.rollback
        start_stats = self.d.router.stats()
        began = time.monotonic()
        deadline = began + seconds
        # The judge decides by the end of its extension plus a sustained failure at the latest;
        # this bound only guards the loop.
        limit = deadline + (
            analysis.settings.nodata_extension + analysis.settings.sustain + 1.0 if analysis else 0
        )
        next_health = next_request = time.monotonic()
        decision: BakeDecision | None = None
        while True:
            if rules.on_process_exit and not self.d.target.is_alive(release):
                raise _Rollback(
                    Verdict(
                        "process_exit",
                        f"release {self.version} exited while serving traffic",
                        {"pid": release.pid},
                    )
                )
            stats = self.d.router.stats()
            window = _window(stats, start_stats)
            if analysis is not None and self.stable is not None:
                decision = analysis.poll(
                    window.get(self.version, BackendStats()),
                    window.get(self.stable.name, BackendStats()),
                    time.monotonic() - began,
                )
                self.judgement = decision
                self.save_judgement()
            self.progress(window)
            verdict = error_rate_verdict(window.get(self.version, BackendStats()), rules)
            if verdict:
                raise _Rollback(verdict)
            if decision is not None and decision.action == "rollback":
                judged = decision.judgement
                raise _Rollback(
                    Verdict(
                        "canary_analysis",
                        decision.reason,
                        {"step": self.step, "score": judged.score, "decision": judged.decision},
                    )
                )
            if time.monotonic() >= next_health:
                result = check_http(release.url, settings.health, http)
                next_health = time.monotonic() + settings.health.interval
                status = result.http_status or 0
                if rules.on_health_5xx and status >= 500:
                    raise _Rollback(
                        Verdict(
                            "health_5xx",
                            f"health check answered HTTP {status}",
                            {"http_status": status, "detail": result.detail},
                        )
                    )
                fired = self.streaks.observe("health_failures", None if result.ok else result)
                if fired:
                    raise _Rollback(fired)
            self.watch_checks(release)
            self.watch_sustained(release, stats)
            now = time.monotonic()
            if now >= next_request:
                next_request = now + REQUEST_POLL_INTERVAL
                if self.read_request(timed_out=self.paused and now >= deadline):
                    return
            if self.paused:
                pass  # only an answer (or the pause's timeout, above) ends a pause
            elif now >= deadline and (decision is None or decision.action == "promote"):
                if decision is not None:  # a pass by nodata_policy says so here, too
                    self.emit(
                        "stage.passed", stage="analysis", step=self.step, reason=decision.reason
                    )
                return
            elif now >= limit:
                assert decision is not None
                raise _Rollback(
                    Verdict(
                        "canary_analysis",
                        f"canary analysis undecided after {now - began:.0f} s: " + decision.reason,
                        {"step": self.step, "score": decision.judgement.score, "undecided": True},
                    )
                )
            time.sleep(POLL_INTERVAL)

    def sustain_window(self) -> float:
        """How long a sustained rule's condition must hold: shorter at a canary step."""
        rules = self.d.settings.rollback
        canary = self.stable is not None and self.step is not None and self.step < 100
        return rules.canary_window if canary else rules.window

    def watch_sustained(self, release: Release, stats: dict[str, BackendStats]) -> None:
        """Latency, resources and the database pool: raise _Rollback once one of them held
        at every poll for the sustain window."""
        rules = self.d.settings.rollback
        now = time.monotonic()
        span = self.sustain_window()
        # The stats over the last window: the difference with the oldest snapshot kept.
        if not self.snapshots or now - self.snapshots[-1][0] >= span / WINDOW_SNAPSHOTS:
            self.snapshots.append((now, stats))
        while len(self.snapshots) > 1 and self.snapshots[1][0] <= now - span:
            self.snapshots.popleft()
        earlier = self.snapshots[0][1]
        mine = stats.get(self.version, BackendStats()).minus(
            earlier.get(self.version, BackendStats())
        )
        stable = None
        if self.stable is not None:
            name = self.stable.name
            stable = stats.get(name, BackendStats()).minus(earlier.get(name, BackendStats()))
        latency = latency_verdict(mine, stable, self.stored_baseline_p95(), rules)
        if self.resources is not None and now - self.resources_at >= RESOURCE_INTERVAL:
            cpu, rss = self.resources.read()
            self.resources_now = resources_verdict(cpu, rss, rules)
            self.resources_at = now
        for rule, current in (
            ("latency", latency),
            ("resources", self.resources_now),
            ("db_pool", self.db_pool_now),
        ):
            fired = self.sustain.observe(rule, current, now, span)
            if fired:
                raise _Rollback(fired)

    def stored_baseline_p95(self) -> float | None:
        """The previous good deployment's level-4 p95 (read once), for the latency rule."""
        if not self.stored_p95_read:
            self.stored_p95_read = True
            with contextlib.suppress(Exception):
                previous = self.d.registry.last_succeeded(
                    self.d.environment, before=self.deployment_id
                )
                baseline = previous.metadata.get("baseline") if previous else None
                p95 = baseline.get("p95_ms") if isinstance(baseline, dict) else None
                if isinstance(p95, int | float) and p95 > 0:
                    self.stored_p95 = float(p95)
        return self.stored_p95

    def watch_checks(self, release: Release) -> None:
        """Re-run the deep/dependency and smoke checks every ``checks_interval`` (in a thread)
        and judge their latest results; raise _Rollback when a rule fires."""
        rules = self.d.settings.rollback
        health = self.d.settings.health
        if rules.checks_interval <= 0 or not levels_configured(health):
            return
        now = time.monotonic()
        if self.checks_running is None:
            if self.checks_pool is None:
                self.checks_pool = ThreadPoolExecutor(1, thread_name_prefix="safeship-checks")
                self.checks_next = now + rules.checks_interval  # they just ran before traffic
            if now >= self.checks_next:
                self.checks_running = self.checks_pool.submit(
                    verify_levels_2_3, release.url, health
                )
            return
        if not self.checks_running.done():
            return
        future, self.checks_running = self.checks_running, None
        self.checks_next = now + rules.checks_interval
        try:
            results = future.result()
        except Exception:
            return  # e.g. a variable unset since verification: it was checked then
        self.db_pool_now = db_pool_verdict(results, rules)
        fired = (
            check_failed_verdict(results)
            or self.streaks.observe("dependency_degraded", degraded_dependency(results))
            or self.streaks.observe("smoke_failures", intermittent_smoke(results))
        )
        if fired:
            raise _Rollback(fired)

    def save_judgement(self, *, force: bool = False) -> None:
        """The judge's latest figures to the registry (for `safeship status`), now and then."""
        now = time.monotonic()
        if self.judgement is None or (
            not force and now - self.judgement_saved < JUDGEMENT_SAVE_INTERVAL
        ):
            return
        self.judgement_saved = now
        decision = self.judgement
        analysis = {"step": self.step, "reason": decision.reason, **decision.judgement.as_dict()}
        with contextlib.suppress(Exception):  # the figures are for show; never stop a bake
            self.d.registry.update_deployment(self.deployment_id, metadata={"analysis": analysis})

    # -- endings --------------------------------------------------------------------------

    def traffic(self) -> dict[str, dict[str, int]]:
        """Requests and errors per release since traffic started moving."""
        try:
            now = self.d.router.stats()
        except Exception:
            return {}
        names = [self.version] + ([self.stable.name] if self.stable else [])
        result = {}
        for name in names:
            delta = now.get(name, BackendStats()).minus(
                self.stats_at_start.get(name, BackendStats())
            )
            result[name] = {"requests": delta.requests, "errors": delta.errors}
        return result

    def rollout_window(self) -> dict[str, BackendStats]:
        """Stats per release since traffic started moving (for the final live frame)."""
        names = {self.version} | ({self.stable.name} if self.stable else set())
        try:
            window = _window(self.d.router.stats(), self.stats_at_start)
        except Exception:
            return {}
        return {name: stats for name, stats in window.items() if name in names}

    def promote(self) -> DeploymentOutcome:
        traffic = self.traffic()
        mine = traffic.get(self.version, {"requests": 0, "errors": 0})
        served = BackendStats(requests=mine["requests"], responses_5xx=mine["errors"])
        # The lower of the traffic's score and the health checks' score.
        score = min(health_score(served), check_score(self.checks))
        self.advance(
            Status.SUCCEEDED,
            completed=True,
            health_score=score,
            error_count=mine["errors"],
            metadata={"traffic": traffic},
        )
        # Success is recorded before the old release stops: a crash in between leaves a
        # promoted release and a leftover one (which recover and the next deploy stop), never
        # an open deployment whose stable is gone. It stops once drained.
        drained: dict[str, Any] = {}
        if self.stable:
            name = self.stable.name
            drained = {"drained": self.drain(name).as_dict()}
            with contextlib.suppress(Exception):
                _stop_version(self.d.target, name)
        self.emit("deployment.succeeded", traffic=traffic, health_score=score, **drained)
        self.progress(self.rollout_window())
        return DeploymentOutcome(self.deployment_id, self.version, Status.SUCCEEDED, None, traffic)

    def roll_back(self, verdict: Verdict) -> DeploymentOutcome:
        """Send all traffic back to the stable release, record it, then stop the new one once
        drained; the rule that fired and its figures go to the registry
        (``metadata["rollback"]``) and the event.

        The traffic switch never waits on the registry: the update is written ahead to an
        intent file in the run directory (pipeline.intent), the router moves, and only then is
        the registry written (a locked or unreachable registry delays the record, and recovery
        completes it from the intent). Each step is best effort: a failing registry or sink
        never keeps the router from being switched back.
        """
        reason = redact(verdict.reason)  # it may quote a release's output, hence a secret
        record = redact_data(verdict.as_record())
        # Only a local file before the switch: the traffic figures are read after it.
        update: dict[str, Any] = {
            "status": Status.ROLLED_BACK.value,
            "rollback_reason": reason,
            "completed": True,
            "metadata": {"rollback": record},
        }
        intent = self.d.run_dir is not None
        if self.d.run_dir is not None:
            try:
                write_intent(self.d.run_dir, self.deployment_id, update)
            except OSError:
                intent = False  # a read-only run directory must not hold the switch either
        try:
            self.d.router.set_backends(
                [Backend(self.stable.name, self.stable.url, 100)] if self.stable else []
            )
        finally:
            self.left_traffic[self.version] = time.monotonic()
            traffic = self.traffic()
            mine = traffic.get(self.version, {"requests": 0, "errors": 0})
            self.emit(
                "rollback.triggered",
                reason=reason,
                step=self.step,
                rule=record["rule"],
                figures=record["figures"],
            )
            recorded = self.advance(
                Status.ROLLED_BACK,
                best_effort=True,
                rollback_reason=reason,
                completed=True,
                error_count=mine["errors"],
                health_score=health_score(
                    BackendStats(requests=mine["requests"], responses_5xx=mine["errors"])
                ),
                metadata={"rollback": record, "traffic": traffic},
            )
            if recorded and intent:
                safe_clear(self.d.run_dir, self.deployment_id)
            drained = self.drain(self.version) if self.release is not None else None
            self.stop_release()
            extra = {"drained": drained.as_dict()} if drained else {}
            self.emit("rollback.completed", reason=reason, traffic=traffic, **extra)
            self.emit("deployment.failed", status=Status.ROLLED_BACK.value, reason=reason)
            self.progress(self.rollout_window())
        return DeploymentOutcome(
            self.deployment_id, self.version, Status.ROLLED_BACK, reason, traffic
        )

    def drain(self, name: str) -> Drained:
        """Wait (bounded by the drain timeout since ``name`` left traffic) until the router has
        no request in flight to ``name``."""
        since = self.left_traffic.get(name)
        return drain(self.d.router, name, self.d.settings.drain_timeout, since=since)

    def fail(self, reason: str) -> DeploymentOutcome:
        reason = redact(reason)  # it may quote a release's output, which may quote a secret
        self.advance(Status.FAILED, rollback_reason=reason, completed=True)
        self.emit("deployment.failed", status=Status.FAILED.value, reason=reason)
        self.progress()
        return DeploymentOutcome(self.deployment_id, self.version, Status.FAILED, reason)

    def stop_release(self) -> None:
        if self.release is not None:
            # Stopping is cleanup: if it fails, the release files let `safeship down` finish it.
            with contextlib.suppress(Exception):
                self.d.target.stop(self.release)


def _window(
    now: dict[str, BackendStats], start: dict[str, BackendStats]
) -> dict[str, BackendStats]:
    return {name: stats.minus(start.get(name, BackendStats())) for name, stats in now.items()}


def _serving_backend(backends: list[Backend], exclude: str) -> Backend | None:
    """The release that serves the environment now: the one with the most weight."""
    serving = [b for b in backends if b.weight > 0 and b.name != exclude]
    return max(serving, key=lambda b: b.weight) if serving else None


def _stop_version(target: Target, version: str) -> None:
    for release in target.releases():
        if release.version == version:
            target.stop(release)


def _interruption_reason(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "deploy interrupted (SIGINT/SIGTERM)"
    text = str(exc).strip().splitlines()
    return f"deploy stopped by an error: {text[0] if text else type(exc).__name__}"
