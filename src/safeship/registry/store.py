"""The deployment registry's facade: ``Registry`` opens the database and hands each call to
the repository of its aggregate (deployments, events, env snapshots, leases, requests,
verification results, baselines).

Every write is its own committed transaction, because the pipeline records each transition
before acting on it (write-ahead): whatever the orchestrator did last is on disk even if it is
killed right after. A ``Registry`` holds only connection factories, so one instance can be
shared by threads.

Opening and the transactions are ``database.Database``'s: a SQLite file at HEAD is used
without SQLAlchemy, so `safeship status` and `history` start fast.
"""

from __future__ import annotations

import dataclasses
import math
import uuid
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

from safeship.registry import deployments, events, leases, snapshots
from safeship.registry.analytics_records import AnalyticsRecords
from safeship.registry.approvals import ApprovalRecords
from safeship.registry.auth_records import AuthRecords
from safeship.registry.database import Database
from safeship.registry.drills import DrillRecords
from safeship.registry.errors import RegistryError, check_text, first_line, json_object, parse_id
from safeship.registry.files import empty_registry_message, file_state
from safeship.registry.gate_results import GateResultRecords
from safeship.registry.job_runs import JobRunRecords
from safeship.registry.location import registry_file
from safeship.registry.outbox_records import OutboxRecords
from safeship.registry.pauses import PauseRecords
from safeship.registry.records import (
    COMMIT_LEN,
    ENVIRONMENT_LEN,
    EVENT_NAME_LEN,
    KEY_ID_LEN,
    PERSON_LEN,
    STATUSES,
    TERMINAL_STATUSES,
    VERSION_LEN,
    DeploymentRecord,
    EnvSnapshotRecord,
    EventRecord,
    Lease,
)
from safeship.registry.releases import ReleaseRecords
from safeship.registry.rotations import RotationRecords
from safeship.registry.stored_files import StoredFileRecords
from safeship.registry.verification import RecordsBase

if TYPE_CHECKING:
    from safeship.registry.artifacts import RegistryArtifacts

__all__ = [
    "STATUSES",
    "TERMINAL_STATUSES",
    "DeploymentRecord",
    "EnvSnapshotRecord",
    "EventRecord",
    "Registry",
    "RegistryError",
    "empty_registry_message",
    "file_state",
    "first_line",
    "registry_file",
]

MIN_PREFIX: Final = 6


class Registry(
    RecordsBase,
    OutboxRecords,
    AnalyticsRecords,
    JobRunRecords,
    AuthRecords,
    GateResultRecords,
    StoredFileRecords,
    ReleaseRecords,
    DrillRecords,
    PauseRecords,
    ApprovalRecords,
    RotationRecords,
):
    """Deployment registry on ``sqlite:///path.db`` or ``postgresql://...``.

    Opening it applies pending migrations (safe when several processes open it at once). A
    SQLite file is never created by reading (a missing one reads as empty), and one this
    process may not write is opened read-only; see ``database`` for the whole contract.
    """

    def __init__(self, url: str, *, clock: Callable[[], datetime] | None = None) -> None:
        self._db = Database(url)
        self.url = self._db.url
        self.path = self._db.path
        self.readonly = self._db.readonly
        self._clock = clock or (lambda: datetime.now(UTC))
        self._reading = self._db.reading
        self._writing = self._db.writing

    @property
    def exists(self) -> bool:
        """False while a SQLite registry's file has not been created (nothing was written)."""
        return not self._db.missing

    def close(self) -> None:
        self._db.close()

    @property
    def artifacts(self) -> RegistryArtifacts:
        """The artifact store in this registry (deployment reports; see ``artifacts``)."""
        from safeship.registry.artifacts import RegistryArtifacts

        return RegistryArtifacts(self._reading, self._writing, self._now)

    def __enter__(self) -> Registry:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- deployments -------------------------------------------------------------------------

    def create_deployment(
        self,
        environment: str,
        version: str,
        commit_sha: str | None,
        triggered_by: str,
        *,
        path: str | None = None,
        strategy: str | None = None,
        gate_verdict: str | None = None,
        stable_version: str | None = None,
        notes: str | None = None,
    ) -> str:
        """Record a new pending deployment and return its id (a UUID4 string)."""
        check_text("environment", environment, ENVIRONMENT_LEN)
        check_text("version", version, VERSION_LEN)
        check_text("commit_sha", commit_sha, COMMIT_LEN, required=False)
        check_text("triggered_by", triggered_by, PERSON_LEN)
        typed = {
            "path": path,
            "strategy": strategy,
            "gate_verdict": gate_verdict,
            "stable_version": stable_version,
            "notes": notes,
        }
        deployments.check_changes(typed)
        started_at = self._now()
        with self._writing("create deployment") as tx:
            return deployments.insert(
                tx,
                environment=environment,
                version=version,
                commit_sha=commit_sha,
                triggered_by=triggered_by,
                started_at=started_at,
                typed=typed,
            )

    def update_deployment(
        self,
        deployment_id: str,
        *,
        status: str | None = None,
        current_step: int | None = None,
        health_score: float | None = None,
        error_count: int | None = None,
        rollback_reason: str | None = None,
        completed: bool = False,
        rollback_rule: str | None = None,
        path: str | None = None,
        strategy: str | None = None,
        gate_verdict: str | None = None,
        paused_at: int | None = None,
        cleared: Collection[str] = (),
    ) -> None:
        """Change the given fields (None leaves a field as it is) in one committed transaction.

        ``cleared`` names fields set back to NULL (``paused_at``: the pause is over);
        ``completed`` stamps completed_at with the current time.
        """
        changes: dict[str, object] = {
            column: value
            for column, value in (
                ("status", status),
                ("current_step", current_step),
                ("health_score", health_score),
                ("error_count", error_count),
                ("rollback_reason", rollback_reason),
                ("rollback_rule", rollback_rule),
                ("path", path),
                ("strategy", strategy),
                ("gate_verdict", gate_verdict),
                ("paused_at", paused_at),
            )
            if value is not None
        }
        deployments.check_changes(changes)
        unknown = set(cleared) - deployments.CLEARABLE
        if unknown:
            allowed = sorted(deployments.CLEARABLE)
            raise RegistryError(f"cannot clear {sorted(unknown)}; only {allowed}")
        changes.update(dict.fromkeys(cleared))
        key = parse_id(deployment_id)
        if completed:
            changes["completed_at"] = self._now()
        with self._writing("update deployment") as tx:
            if key is None or not deployments.update(tx, key, changes):
                raise RegistryError(f"no deployment {deployment_id!r}")

    def get(self, deployment_id: str) -> DeploymentRecord | None:
        key = parse_id(deployment_id)
        if key is None:
            return None
        with self._reading("get deployment") as tx:
            return deployments.get(tx, key)

    def find(self, prefix: str) -> DeploymentRecord | None:
        """The deployment whose id starts with ``prefix`` (>= 6 hex digits), or None.

        Raises RegistryError when the prefix is ambiguous. Matching is a range over the id's
        hex digits, which orders the same on a native UUID (PostgreSQL) and CHAR(32) (SQLite).
        """
        digits = prefix.replace("-", "").lower()
        if len(digits) < MIN_PREFIX or len(digits) > 32 or not _is_hex(digits):
            raise RegistryError(f"id prefix must be {MIN_PREFIX}-32 hex digits, got {prefix!r}")
        low = str(uuid.UUID(digits.ljust(32, "0")))
        high = str(uuid.UUID(digits.ljust(32, "f")))
        with self._reading("find deployment") as tx:
            found = deployments.in_id_range(tx, low, high, limit=2)
        if len(found) > 1:
            raise RegistryError(f"id prefix {prefix!r} matches more than one deployment")
        return found[0] if found else None

    def history(
        self,
        environment: str | None = None,
        limit: int = 50,
        *,
        filters: deployments.HistoryFilter | None = None,
    ) -> list[DeploymentRecord]:
        """Deployments, newest first, optionally of one environment and matching ``filters``."""
        _check_limit(limit)
        chosen = filters or deployments.HistoryFilter()
        if environment is not None:
            chosen = dataclasses.replace(chosen, environment=environment)
        if chosen.before is not None:
            cursor = parse_id(chosen.before)
            if cursor is None:
                raise RegistryError(f"not a deployment id: {chosen.before!r}")
            chosen = dataclasses.replace(chosen, before=cursor)
        with self._reading("read history") as tx:
            return deployments.history(tx, chosen, limit)

    def deployment_figures(
        self, environment: str, since: datetime, day_start: datetime, week_start: datetime
    ) -> tuple[deployments.WindowFigures, list[tuple[datetime, datetime]]]:
        """The dashboard's figures of ``environment``: counts and the mean duration since
        each start (``deployments.window_figures``), and each rollback since ``since``: when
        its rule fired and when it completed (``deployments.rollback_times``)."""
        with self._reading("read deployment figures") as tx:
            return (
                deployments.window_figures(tx, environment, since, day_start, week_start),
                deployments.rollback_times(tx, environment, since),
            )

    def active(self, environment: str) -> list[DeploymentRecord]:
        """Deployments of ``environment`` not yet in a terminal status, newest first."""
        with self._reading("read active deployments") as tx:
            return deployments.active(tx, environment)

    def last_succeeded(
        self, environment: str, before: str | None = None
    ) -> DeploymentRecord | None:
        """The newest succeeded deployment of ``environment``.

        With ``before`` (a deployment id), the newest one that started before that deployment:
        the baseline to compare a new release with, or the version to roll back to.
        """
        key = parse_id(before) if before is not None else None
        with self._reading("read last succeeded") as tx:
            if before is not None and (key is None or not deployments.exists(tx, key)):
                raise RegistryError(f"no deployment {before!r}")
            return deployments.last_succeeded(tx, environment, key)

    # -- events ------------------------------------------------------------------------------

    def add_event(
        self,
        deployment_id: str | None,
        name: str,
        timestamp: datetime,
        attributes: Mapping[str, Any],
    ) -> None:
        """Append an event; ``deployment_id`` None marks an environment-level event."""
        check_text("name", name, EVENT_NAME_LEN)
        if timestamp.tzinfo is None or timestamp.utcoffset() is None:
            raise RegistryError(f"event timestamp {timestamp.isoformat()} has no time zone")
        stored = json_object("attributes", attributes)
        with self._writing("add event") as tx:
            if deployment_id is not None:
                self._require(tx, deployment_id)
            events.insert(tx, parse_id(deployment_id) if deployment_id else None, name,
                          timestamp, stored)  # fmt: skip

    def events(self, deployment_id: str | None) -> list[EventRecord]:
        """Events of one deployment (or the environment-level ones for None), in time order."""
        key = None
        if deployment_id is not None:
            key = parse_id(deployment_id)
            if key is None:
                return []
        with self._reading("read events") as tx:
            return events.of_deployment(tx, key)

    def event_log(
        self,
        *,
        environment: str | None = None,
        deployment_id: str | None = None,
        since: datetime | None = None,
        after_id: int | None = None,
        limit: int = 100,
    ) -> list[EventRecord]:
        """The newest ``limit`` events (of an environment, of a deployment, from ``since``,
        after the event ``after_id``), oldest first: the structured deployment log."""
        _check_limit(limit)
        key = None
        if deployment_id is not None:
            key = parse_id(deployment_id)
            if key is None:
                return []
        with self._reading("read the event log") as tx:
            return events.log(tx, environment=environment, deployment_id=key, since=since,
                              after_id=after_id, limit=limit)  # fmt: skip

    # -- environment snapshots ---------------------------------------------------------------

    def add_env_snapshot(
        self,
        environment: str,
        variables: Mapping[str, Mapping[str, Any]],
        taken_by: str,
        *,
        fingerprint_key_id: str | None = None,
    ) -> str:
        """Record an environment's variables; returns the snapshot's id.

        ``variables`` maps each name to ``{"value": str | None, "fingerprint": str | None,
        "secret": bool}``. A secret entry must carry a fingerprint and no value: the registry
        refuses to store a secret's value.
        """
        check_text("environment", environment, ENVIRONMENT_LEN)
        check_text("taken_by", taken_by, PERSON_LEN)
        check_text("fingerprint_key_id", fingerprint_key_id, KEY_ID_LEN, required=False)
        stored = {name: snapshots.snapshot_entry(name, entry) for name, entry in variables.items()}
        json_object("variables", stored)
        taken_at = self._now()
        with self._writing("add env snapshot") as tx:
            return snapshots.insert(tx, environment, stored, taken_by, taken_at, fingerprint_key_id)

    def env_snapshots(self, environment: str, limit: int = 50) -> list[EnvSnapshotRecord]:
        """Snapshots of ``environment``, newest first."""
        _check_limit(limit)
        with self._reading("read env snapshots") as tx:
            return snapshots.of_environment(tx, environment, limit)

    # -- environment leases (one deploy per environment; see leases.py) ----------------------

    def acquire_lease(
        self, environment: str, holder: str, ttl: float, *, replace: str | None = None
    ) -> Lease:
        """Take ``environment``'s lease for ``ttl`` seconds, atomically.

        Succeeds when no lease exists, when the existing one has expired, or when its token is
        ``replace`` (the caller established that its holder is dead); the returned lease's
        ``previous`` is then the one taken over. Raises ``EnvironmentBusy`` otherwise.
        """
        check_text("environment", environment, ENVIRONMENT_LEN)
        check_text("holder", holder, PERSON_LEN)
        _check_ttl(ttl)
        now = self._now()
        with self._writing("acquire lease") as tx:
            return leases.acquire(tx, environment, holder, now, ttl, replace)

    def renew_lease(
        self, environment: str, token: str, ttl: float, *, deployment_id: str | None = None
    ) -> Lease:
        """Extend our lease (``token``) to now + ``ttl``; ``deployment_id`` records what it
        deploys. Raises ``LeaseLost`` when another holder has taken it over."""
        _check_ttl(ttl)
        if deployment_id is not None and parse_id(deployment_id) is None:
            raise RegistryError(f"no deployment {deployment_id!r}")
        now = self._now()
        with self._writing("renew lease") as tx:
            return leases.renew(tx, environment, token, now, ttl, deployment_id)

    def release_lease(self, environment: str, token: str) -> bool:
        """Give our lease up; False when it was no longer ours (nothing is changed then)."""
        with self._writing("release lease") as tx:
            return leases.release(tx, environment, token)

    def lease(self, environment: str) -> Lease | None:
        """The environment's lease row (possibly expired), or None when it is free."""
        with self._reading("read lease") as tx:
            return leases.current(tx, environment)


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


def _check_limit(limit: int) -> None:
    if limit < 1:
        raise RegistryError(f"limit must be positive, got {limit}")


def _check_ttl(ttl: float) -> None:
    if not (math.isfinite(ttl) and ttl > 0):
        raise RegistryError(f"lease ttl must be a positive number of seconds, got {ttl}")
