"""The drift job: each environment's live variables against the schema and the last
snapshot, once a day (or every N seconds); ``env.drift`` raised when they differ, resolved
when they no longer do.

The comparison itself is the core's (``core.env_drift``, given as ``check``): this module
decides when, which environments, which process, and what the alert says. Several `safeship
serve` sharing one registry check each environment once per period: the first to claim the
run (environment, period) in the registry's ``job_runs`` does it. The alert names variables,
never a value (not even a secret's fingerprint).
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, Final

from safeship.events.model import Event
from safeship.jobs.scheduler import JobFailed, one_line
from safeship.jobs.settings import DriftJobSettings

JOB: Final = "drift"
TRIGGERED_BY: Final = "the drift job"
_MAX_NAMES = 20  # variables named in an alert's summary; the count says the rest


@dataclass(frozen=True)
class DriftFinding:
    """One environment's drift, by variable name only."""

    environment: str
    against_schema: tuple[str, ...]  # variables missing, invalid or unknown to the schema
    since_snapshot: tuple[str, ...]  # variables added, removed or changed since the snapshot
    snapshot_taken_at: datetime | None = None

    @property
    def drifted(self) -> bool:
        return bool(self.against_schema or self.since_snapshot)

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.against_schema) | set(self.since_snapshot)))


@dataclass(frozen=True)
class DriftRun:
    """What one run of the drift job did, per environment."""

    checked: dict[str, DriftFinding]
    skipped: dict[str, str]  # environment → why (another process checked it this period)
    failed: dict[str, str]  # environment → one line


# -- the schedule ------------------------------------------------------------------------------


def period_start(settings: DriftJobSettings, now: datetime) -> datetime:
    """The start of the period ``now`` is in: the latest daily ``at`` not after ``now``, or
    the latest multiple of ``every`` seconds since the epoch."""
    now = now.astimezone(UTC)
    if settings.at:
        hours, minutes = (int(part) for part in settings.at.split(":"))
        today = datetime.combine(now.date(), time(hours, minutes), tzinfo=UTC)
        return today if today <= now else today - timedelta(days=1)
    every = settings.every
    return datetime.fromtimestamp(now.timestamp() // every * every, tz=UTC)


def next_period(settings: DriftJobSettings, now: datetime) -> datetime:
    """When the period after ``now``'s begins: the next check."""
    start = period_start(settings, now)
    return start + (timedelta(days=1) if settings.at else timedelta(seconds=settings.every))


def run_key(environment: str, start: datetime) -> str:
    return f"{environment}/{start.astimezone(UTC).strftime('%Y-%m-%dT%H:%M')}"


# -- the run -----------------------------------------------------------------------------------


class DriftJob:
    """The drift job of one process, given what the core provides: which environments can be
    checked now (``environments``) and the check of one (``check``)."""

    def __init__(
        self,
        config: Any,  # SafeshipConfig: its [jobs.drift], [alerts] and [notify.*]
        registry_url: str,
        environments: Callable[[], Sequence[str]],
        check: Callable[[str], DriftFinding],
        *,
        clock: Callable[[], datetime] | None = None,
        holder: str | None = None,
    ) -> None:
        self.config = config
        self.settings: DriftJobSettings = config.jobs.drift
        self._registry_url = registry_url
        self._environments = environments
        self._check = check
        self._clock = clock or (lambda: datetime.now(UTC))
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.last: DriftRun | None = None

    def __call__(self, stop: threading.Event) -> None:
        """The scheduled run: each environment not checked this period by any process."""
        self.run(stop, force=False)

    def run(self, stop: threading.Event | None = None, *, force: bool = True) -> DriftRun:
        """Check every environment (``force``: even one checked this period already, as a
        user asks with `safeship jobs run drift`). JobFailed naming each environment that
        could not be checked."""
        from safeship.alerts.service import start_alerting
        from safeship.registry import Registry

        outcome = DriftRun({}, {}, {})
        environments = list(self._environments())
        if not environments:  # no schema, or none of its environments configured
            self.last = outcome
            return outcome
        key_time = period_start(self.settings, self._clock())
        with Registry(self._registry_url, clock=self._clock) as registry:
            # The alerts go to the outbox; the outbox job (or any safeship process) sends them.
            alerting = start_alerting(self.config, registry, channels={})
            for environment in environments:
                if stop is not None and stop.is_set():
                    break
                key = run_key(environment, key_time)
                if not force and not registry.claim_job_run(JOB, key, self.holder):
                    outcome.skipped[environment] = "checked this period already"
                    continue
                error: str | None = None
                try:
                    finding = self._check(environment)
                    self._alert(alerting.sink, finding)
                    outcome.checked[environment] = finding
                except Exception as exc:
                    error = one_line(exc)
                    outcome.failed[environment] = error
                if not force:
                    registry.finish_job_run(JOB, key, self.holder, ok=error is None, error=error)
            alerting.close(0)
        self.last = outcome
        if outcome.failed:
            raise JobFailed("; ".join(f"{env}: {why}" for env, why in outcome.failed.items()))
        return outcome

    def _alert(self, sink: Any, finding: DriftFinding) -> None:
        """Raise ``env.drift`` for a drifted environment, resolve it for one that is not (a
        no-op when it was not firing)."""
        names = finding.variables
        shown = ", ".join(names[:_MAX_NAMES]) + (" …" if len(names) > _MAX_NAMES else "")
        if finding.drifted:
            parts = []
            if finding.against_schema:
                parts.append(f"{len(finding.against_schema)} against the schema")
            if finding.since_snapshot:
                parts.append(f"{len(finding.since_snapshot)} since the last snapshot")
            summary = f"env drift in {len(names)} variables ({' and '.join(parts)}): {shown}"
            event = Event(
                event="env.drifted",
                timestamp=self._clock(),
                environment=finding.environment,
                triggered_by=TRIGGERED_BY,
                attributes={
                    "summary": summary,
                    "variables": shown,
                    "against_schema": len(finding.against_schema),
                    "since_snapshot": len(finding.since_snapshot),
                },
            )
        else:
            event = Event(
                event="env.drift_cleared",
                timestamp=self._clock(),
                environment=finding.environment,
                triggered_by=TRIGGERED_BY,
                attributes={"summary": "env drift gone: the variables match again"},
            )
        sink.raise_alerts(event)
