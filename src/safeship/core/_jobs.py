"""`safeship serve`'s background jobs, put together from the core's operations: the outbox
delivery (``notify_flush``), the drift check (``env_drift``), ``watch`` of each serving
environment, the rollback drills (``drill``), the outage probe (``outage_check``) and
secret rotation (``[jobs.rotation]``: due reminders, then ``finish_due_rotations``).
The scheduler is ``safeship.jobs.scheduler``'s; see docs/jobs.md.
"""

from __future__ import annotations

import io
import os
import socket
import sys
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from safeship.config import LoadedConfig

if TYPE_CHECKING:
    from safeship.jobs.drift import DriftFinding
    from safeship.jobs.scheduler import BackgroundJobs, Job, JobStatus, RunResult

OUTBOX_TIMEOUT = 30.0  # seconds a delivery pass may take at most (a channel's bounded sends)


def background_jobs(
    loaded: LoadedConfig, *, clock: Callable[[], datetime] | None = None
) -> BackgroundJobs:
    """The background jobs of ``loaded``'s project, not started: ``start()`` them (the web
    app does in its lifespan), ``stop()`` them at the end."""
    from safeship.jobs.scheduler import BackgroundJobs

    now = clock or (lambda: datetime.now(UTC))
    jobs = [_outbox_job(loaded), _drift_job(loaded, now), *_watch_jobs(loaded)]
    # The drills, the outage probe and rotation only where they have something to act on.
    optional = (_drill_job(loaded, now), _outage_job(loaded), _rotation_job(loaded, now))
    jobs += [job for job in optional if job is not None]
    return BackgroundJobs(jobs, clock=now)


def job_statuses(loaded: LoadedConfig) -> tuple[JobStatus, ...]:
    """Each job: on or off, how often, when it would run next from now (this process has not
    run them: `safeship serve`'s page shows its own last runs)."""
    return background_jobs(loaded).statuses()


def run_job(loaded: LoadedConfig, name: str) -> JobStatus:
    """Run the job ``name`` once now, here; its status after (``last_ok``, ``last_error``).
    UnknownJob (one line) when there is no such job."""
    return background_jobs(loaded).run_now(name)


# -- the jobs ----------------------------------------------------------------------------------


def _outbox_job(loaded: LoadedConfig) -> Job:
    from safeship.jobs.scheduler import Job

    settings = loaded.config.jobs.outbox
    warned: set[str] = set()

    def deliver(stop: threading.Event) -> RunResult:
        from safeship.core._notify import notify_flush, notify_status

        # Most passes find nothing: a count, rather than building every channel (an HTTPS
        # client each) every few seconds for nothing.
        if notify_status(loaded).counts.get("pending", 0) == 0:
            return None
        warnings = io.StringIO()
        notify_flush(loaded, min(OUTBOX_TIMEOUT, max(settings.every, 1.0)), errors=warnings)
        for line in warnings.getvalue().splitlines():
            if line not in warned:  # a channel whose token is unset: said once, not each pass
                warned.add(line)
                print(line, file=sys.stderr)
        return None

    # No channel configured: nothing to deliver, nothing to poll.
    enabled = settings.enabled and bool(loaded.config.notify.sections())
    return Job("outbox", enabled, settings.every, deliver)


def _drift_job(loaded: LoadedConfig, clock: Callable[[], datetime]) -> Job:
    from safeship.jobs.drift import DriftJob, next_period
    from safeship.jobs.scheduler import Job

    settings = loaded.config.jobs.drift
    job = DriftJob(
        loaded.config,
        loaded.registry_url(),
        lambda: _drift_environments(loaded),
        lambda environment: _drift_finding(loaded, environment),
        clock=clock,
    )

    def manual(stop: threading.Event) -> RunResult:
        job.run(stop, force=True)  # asked for: even an environment checked this period
        return None

    return Job(
        "drift",
        settings.enabled,
        86_400.0 if settings.at else settings.every,
        job,  # scheduled: each environment not checked this period by any process
        next_after=lambda started: next_period(settings, started),
        manual=manual,
    )


def _drift_environments(loaded: LoadedConfig) -> list[str]:
    """The environments to check: the ones named (else every configured one) that the
    schema declares; none without a schema."""
    from safeship.core._env import EnvProject, optional_schema

    schema = optional_schema(EnvProject(config=loaded.path))
    if schema is None:
        return []
    named = loaded.config.jobs.drift.environments or list(loaded.config.environments)
    return [name for name in named if name in schema.environments]


def _drift_finding(loaded: LoadedConfig, environment: str) -> DriftFinding:
    """The environment's drift (its target's variables), by variable name only."""
    from safeship.core._env import EnvProject, EnvSources, env_drift
    from safeship.jobs.drift import DriftFinding

    drift = env_drift(EnvProject(config=loaded.path), environment, EnvSources())
    return DriftFinding(
        environment,
        tuple(sorted({p.variable or p.code for p in drift.against_schema})),
        tuple(sorted({c.variable for c in drift.since_snapshot})),
        drift.snapshot.taken_at if drift.snapshot is not None else None,
    )


def _watch_jobs(loaded: LoadedConfig) -> list[Job]:
    from safeship.jobs.scheduler import Job

    settings = loaded.config.jobs.watch
    names = settings.environments or list(loaded.config.environments)
    return [
        Job(
            f"watch:{name}",
            settings.enabled,
            loaded.config.watch.interval,
            _watch_once(loaded, name),
        )
        for name in names
    ]


def _watch_once(loaded: LoadedConfig, environment: str) -> Callable[[threading.Event], RunResult]:
    """One check of `safeship watch` (its state in the run directory carries over from one
    to the next); the next check's time is the watcher's (elevated after a deploy)."""

    def check(stop: threading.Event) -> RunResult:
        from safeship.core._watch import watch
        from safeship.jobs.scheduler import JobFailed
        from safeship.pipeline.watch import WatchReport

        reports: list[WatchReport] = []
        watch(loaded, environment, once=True, on_report=reports.append, stop=stop)
        if not reports:
            return None
        report = reports[-1]
        if report.failed:
            raise JobFailed(report.skipped or "the check failed")
        return report.next_interval

    return check


def _drill_job(loaded: LoadedConfig, clock: Callable[[], datetime]) -> Job | None:
    """A rollback drill of each ``[jobs.drill]`` environment once per period (``every``
    seconds since the epoch): the first `safeship serve` to claim (environment, period) in
    ``job_runs`` runs it. A drill that fails, or cannot run (no previous good version), fails
    the job with one line; the failed drill is an alert of its own (``drill.failed``)."""
    from safeship.jobs.drift import run_key
    from safeship.jobs.scheduler import Job

    settings = loaded.config.jobs.drill
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    # An environment named but not configured (the default names "staging") is not drilled.
    names = [name for name in settings.environments if name in loaded.config.environments]
    if not names:
        return None

    def period(now: datetime) -> datetime:
        every = settings.every
        return datetime.fromtimestamp(now.timestamp() // every * every, tz=UTC)

    def drills(stop: threading.Event, *, force: bool) -> RunResult:
        from safeship.core._drill import drill
        from safeship.jobs.scheduler import JobFailed, one_line
        from safeship.pipeline.operations import RollbackImpossible
        from safeship.registry import Registry

        failed: list[str] = []
        key_time = period(clock())
        with Registry(loaded.registry_url(), clock=clock) as registry:
            for name in names:
                if stop.is_set():
                    break
                key = run_key(name, key_time)
                # A drill may wait for approval: its claim is not taken over meanwhile.
                claimed = force or registry.claim_job_run(
                    "drill", key, holder, stale_after=settings.every
                )
                if not claimed:
                    continue
                error: str | None = None
                try:
                    result = drill(loaded, name)
                    error = None if result.ok else result.reason or "failed"
                except RollbackImpossible as exc:  # nothing to drill yet: said as it is
                    error = str(exc)
                except Exception as exc:
                    error = one_line(exc)
                if error is not None:
                    failed.append(f"{name}: {error}")
                if not force:
                    registry.finish_job_run("drill", key, holder, ok=error is None, error=error)
        if failed:
            raise JobFailed("; ".join(failed))
        return None

    def scheduled(stop: threading.Event) -> RunResult:
        return drills(stop, force=False)

    def manual(stop: threading.Event) -> RunResult:
        return drills(stop, force=True)  # asked for: even one drilled this period

    return Job(
        "drill",
        settings.enabled,
        settings.every,
        scheduled,
        next_after=lambda started: period(started) + timedelta(seconds=settings.every),
        manual=manual,
    )


def _outage_job(loaded: LoadedConfig) -> Job | None:
    """The availability probe of each environment that has one, every ``[jobs.outage]
    every`` seconds; its alerts go to the outbox (the outbox job sends them). Several `safeship
    serve` sharing the registry each probe, but a failure within half a period of the last one
    counted is not counted again."""
    from safeship.jobs.scheduler import Job

    settings = loaded.config.jobs.outage
    names = [
        name
        for name in settings.environments or list(loaded.config.environments)
        if _has_probe(loaded, name)
    ]
    if not names:
        return None

    def probe(stop: threading.Event) -> RunResult:
        from safeship.pipeline.outage import check_environments

        check_environments(loaded, names, min_gap=settings.every / 2, deliver=False)
        return None

    return Job("outage", settings.enabled, settings.every, probe)


def _has_probe(loaded: LoadedConfig, environment: str) -> bool:
    from safeship.gates.outage import probed

    return probed(loaded.config.environments[environment])


def _rotation_job(loaded: LoadedConfig, clock: Callable[[], datetime]) -> Job | None:
    """Secret rotation, once per ``[jobs.rotation] every`` seconds (the first `safeship serve`
    to claim the period in ``job_runs`` does it): the due reminders (``jobs/rotation.py``),
    then every rotation whose grace period is over is finished (``finish_due_rotations``).
    Only with a ``[secrets.rotate]`` table. A secret whose store cannot be read, or a finish
    that fails, fails the job with one line; the other secrets are still looked at."""
    from safeship.jobs.drift import run_key
    from safeship.jobs.rotation import JOB
    from safeship.jobs.scheduler import Job

    settings = loaded.config.jobs.rotation
    if not loaded.config.secrets.rotate:
        return None
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def period(now: datetime) -> datetime:
        every = settings.every
        return datetime.fromtimestamp(now.timestamp() // every * every, tz=UTC)

    def rotation_pass(stop: threading.Event, *, force: bool) -> RunResult:
        from safeship.jobs.rotation import remind
        from safeship.jobs.scheduler import JobFailed, one_line
        from safeship.registry import Registry

        failed: list[str] = []
        now = clock()
        key = run_key("secrets", period(now))
        with Registry(loaded.registry_url(), clock=clock) as registry:
            if not force and not registry.claim_job_run(
                JOB, key, holder, stale_after=settings.every
            ):
                return None  # another process has this period
            reminders = remind(loaded.config, loaded.base_dir, registry, now, clock)
            failed += [f"{name} ({env}): {why}" for (name, env), why in reminders.failed.items()]
            if not stop.is_set():
                try:
                    from safeship.core import finish_due_rotations

                    finish_due_rotations(loaded, triggered_by="serve")
                except Exception as exc:  # reported as the job's failure, tried next period
                    failed.append(f"finishing rotations: {one_line(exc)}")
            error = "; ".join(failed) or None
            if not force:
                registry.finish_job_run(JOB, key, holder, ok=error is None, error=error)
        if error is not None:
            raise JobFailed(error)
        return None

    def scheduled(stop: threading.Event) -> RunResult:
        return rotation_pass(stop, force=False)

    def manual(stop: threading.Event) -> RunResult:
        return rotation_pass(stop, force=True)  # asked for: even in a period done already

    return Job(
        JOB,
        settings.enabled,
        settings.every,
        scheduled,
        next_after=lambda started: period(started) + timedelta(seconds=settings.every),
        manual=manual,
    )
