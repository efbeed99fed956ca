"""SQLAlchemy models of the deployment registry.

Only portable column types are used so that SQLite (the default) and PostgreSQL (teams, many
runners) store and return the same values. Any change here needs a new Alembic revision in
``migrations/versions``; ``tests/integration/test_registry.py`` checks the two stay in step.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Deterministic constraint names: SQLite cannot alter an unnamed constraint later, and the
# migration must create the very names the models declare.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime that always comes back in UTC.

    PostgreSQL keeps the instant (timestamptz) but returns it in the session's time zone;
    SQLite has no time zone at all and would silently drop tzinfo. Storing UTC and attaching
    UTC on the way out gives the same aware value on both.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            # A naive time is ambiguous; guessing would corrupt ordering across runners.
            raise ValueError(f"naive datetime {value.isoformat()} given; use an aware datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Deployment(Base):
    __tablename__ = "deployments"

    # as_uuid=False: callers pass and get plain strings; PostgreSQL still stores a native UUID.
    id: Mapped[str] = mapped_column(Uuid(as_uuid=False), primary_key=True)
    environment: Mapped[str] = mapped_column(String(100))
    version: Mapped[str] = mapped_column(String(255))
    commit_sha: Mapped[str | None] = mapped_column(String(64))
    triggered_by: Mapped[str] = mapped_column(String(255))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Not a CHECK constraint: the allowed set is validated in code so a new state needs no
    # table rebuild on SQLite.
    status: Mapped[str] = mapped_column(String(32))
    current_step: Mapped[int | None] = mapped_column(Integer)
    health_score: Mapped[float | None] = mapped_column(Float)
    error_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    rollback_reason: Mapped[str | None] = mapped_column(Text)
    # Typed fields (revisions 0004, 0005), moved out of the former metadata bag.
    path: Mapped[str | None] = mapped_column(String(100))
    strategy: Mapped[str | None] = mapped_column(String(32))
    rollback_rule: Mapped[str | None] = mapped_column(String(64))
    gate_verdict: Mapped[str | None] = mapped_column(String(32))
    stable_version: Mapped[str | None] = mapped_column(String(255))
    paused_at: Mapped[int | None] = mapped_column(Integer)
    notes: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        # Serves environment filters and the newest-first ordering of history/last_succeeded.
        Index("ix_deployments_environment_started_at", "environment", "started_at"),
        # The newest of every environment (the dashboard's history): no sort of every row.
        Index("ix_deployments_started_at_id", "started_at", "id"),
        # The deployments running in an environment (``active``: few among many finished).
        Index("ix_deployments_environment_status", "environment", "status"),
        CheckConstraint(
            "health_score IS NULL OR (health_score >= 0 AND health_score <= 1)",
            name="health_score_range",
        ),
    )


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # NULL for environment-level events (e.g. a lock taken before any deployment row exists).
    deployment_id: Mapped[str | None] = mapped_column(
        Uuid(as_uuid=False),
        ForeignKey("deployments.id", ondelete="CASCADE"),
        index=True,
    )
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime())
    name: Mapped[str] = mapped_column(String(100))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class EnvSnapshot(Base):
    """An environment's variables at one moment: names, values in clear only when not secret.

    ``variables`` maps each name to ``{"value": str | None, "fingerprint": str | None,
    "secret": bool}``: a secret has only its fingerprint (a keyed hash prefix), never its value.
    """

    __tablename__ = "env_snapshots"

    id: Mapped[str] = mapped_column(Uuid(as_uuid=False), primary_key=True)
    environment: Mapped[str] = mapped_column(String(100))
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime())
    taken_by: Mapped[str] = mapped_column(String(255))
    # Which fingerprint key made the fingerprints (fingerprints of two keys are not comparable).
    fingerprint_key_id: Mapped[str | None] = mapped_column(String(64))
    variables: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (Index("ix_env_snapshots_environment_taken_at", "environment", "taken_at"),)


class EnvironmentLease(Base):
    """Who deploys an environment now: at most one row per environment, renewed by heartbeat.

    A row whose ``expires_at`` has passed belongs to a holder that stopped renewing it (killed,
    hung, disconnected) and may be taken over. ``token`` is unique per acquisition, so a holder
    that lost its lease can neither renew nor release its successor's.
    """

    __tablename__ = "environment_leases"

    environment: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(255))
    token: Mapped[str] = mapped_column(Uuid(as_uuid=False))
    # No foreign key: the lease is taken before the deployment row exists.
    deployment_id: Mapped[str | None] = mapped_column(Uuid(as_uuid=False))
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


def _deployment_fk() -> ForeignKey:
    return ForeignKey("deployments.id", ondelete="CASCADE")


class DeploymentRequest(Base):
    """A person's request to a running deployment: pause, abort, rollback, resume, promote."""

    __tablename__ = "deployment_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deployment_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), _deployment_fk(), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[str] = mapped_column(String(255))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class StepResultRow(Base):
    """The canary judge's figures and the traffic at one step of a deployment."""

    __tablename__ = "step_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deployment_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), _deployment_fk(), index=True)
    step_index: Mapped[int] = mapped_column(Integer)
    weight: Mapped[int] = mapped_column(Integer)
    verdict: Mapped[str] = mapped_column(String(32))
    score: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str | None] = mapped_column(Text)
    canary_error_rate: Mapped[float | None] = mapped_column(Float)
    stable_error_rate: Mapped[float | None] = mapped_column(Float)
    error_p_value: Mapped[float | None] = mapped_column(Float)
    canary_latency_ms: Mapped[float | None] = mapped_column(Float)
    stable_latency_ms: Mapped[float | None] = mapped_column(Float)
    latency_ratio: Mapped[float | None] = mapped_column(Float)
    canary_requests: Mapped[int | None] = mapped_column(Integer)
    canary_errors: Mapped[int | None] = mapped_column(Integer)
    stable_requests: Mapped[int | None] = mapped_column(Integer)
    stable_errors: Mapped[int | None] = mapped_column(Integer)
    error_verdict: Mapped[str | None] = mapped_column(String(32))
    latency_verdict: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CheckResultRow(Base):
    """One health check's outcome at a deployment's verification."""

    __tablename__ = "check_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deployment_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), _deployment_fk(), index=True)
    level: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16))
    ok: Mapped[bool] = mapped_column(Boolean)
    critical: Mapped[bool] = mapped_column(Boolean)
    duration_ms: Mapped[float] = mapped_column(Float)
    detail: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BaselineRow(Base):
    """A release's level-4 performance sample (see ``records.BaselineRecord``)."""

    __tablename__ = "baselines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    environment: Mapped[str] = mapped_column(String(100))
    version: Mapped[str] = mapped_column(String(255))
    # SET NULL: a baseline outlives the row it was measured in (it is the next one's reference).
    deployment_id: Mapped[str | None] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("deployments.id", ondelete="SET NULL")
    )
    path: Mapped[str] = mapped_column(String(255))
    sample_count: Mapped[int] = mapped_column(Integer)
    errors: Mapped[int] = mapped_column(Integer)
    error_rate: Mapped[float] = mapped_column(Float)
    mean_ms: Mapped[float | None] = mapped_column(Float)
    p50_ms: Mapped[float | None] = mapped_column(Float)
    p95_ms: Mapped[float | None] = mapped_column(Float)
    p99_ms: Mapped[float | None] = mapped_column(Float)
    duration_s: Mapped[float | None] = mapped_column(Float)
    # The release's processes while sampled (psutil): CPU summed over them, resident memory.
    cpu_percent: Mapped[float | None] = mapped_column(Float)
    rss_mb: Mapped[float | None] = mapped_column(Float)
    # The version whose baseline this one was compared with (None: the environment's first).
    compared_with: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index(
            "ix_baselines_environment_version_created_at", "environment", "version", "created_at"
        ),
    )


class NotificationRow(Base):
    """The alerts outbox: one row per alert and channel, written before anything is sent.

    A row is pending until a dispatcher claims its group (``channel``, ``environment``) with a
    lease (``claimed_by``, ``claimed_until``), sends it in one message with the group's other
    rows, and marks them all delivered in one transaction. ``fallbacks`` are the route's next
    channels: when this one's retries fail the row moves to the first of them.
    """

    __tablename__ = "notifications"

    id: Mapped[str] = mapped_column(Uuid(as_uuid=False), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    channel: Mapped[str] = mapped_column(String(100))
    fallbacks: Mapped[list[str]] = mapped_column(JSON, default=list)
    environment: Mapped[str] = mapped_column(String(100))
    condition: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    alert: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    group_key: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(255))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        # The dispatcher's scan: pending rows by group, oldest first.
        Index("ix_notifications_status_group_key_created_at", "status", "group_key", "created_at"),
        CheckConstraint(
            "status IN ('pending', 'delivered', 'failed', 'dropped')", name="notification_status"
        ),
    )


class AlertStateRow(Base):
    """A condition firing in an environment (so a resolve works across processes), and where
    its alert went (``deliveries``: each route's channel list), for the resolved one."""

    __tablename__ = "alert_states"

    environment: Mapped[str] = mapped_column(String(100), primary_key=True)
    condition: Mapped[str] = mapped_column(String(64), primary_key=True)
    severity: Mapped[str] = mapped_column(String(16))
    firing_since: Mapped[datetime] = mapped_column(UTCDateTime())
    last_notified: Mapped[datetime] = mapped_column(UTCDateTime())
    # No foreign key: a remote path's failure or a watch condition has no deployment row.
    deployment_id: Mapped[str | None] = mapped_column(Uuid(as_uuid=False))
    deliveries: Mapped[list[list[str]]] = mapped_column(JSON, default=list)


class ArtifactRow(Base):
    """A file kept in the registry (the artifact store): a deployment's report (``kind``
    ``report.md``, ``report.json``) and, later, other files such as database backups (no
    deployment). ``sha256`` and ``size`` describe ``content``; the size is limited
    (``artifacts.MAX_SIZE``)."""

    __tablename__ = "artifacts"

    id: Mapped[str] = mapped_column(Uuid(as_uuid=False), primary_key=True)
    # CASCADE: a deployment's artifacts go with it; NULL: an artifact of no deployment.
    deployment_id: Mapped[str | None] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("deployments.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(100))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        # A deployment's artifacts of a kind, and retention by kind: both newest first.
        Index("ix_artifacts_deployment_id_kind", "deployment_id", "kind"),
        Index("ix_artifacts_kind_created_at", "kind", "created_at"),
        CheckConstraint("size >= 0", name="artifact_size"),
    )


# -- analytics (revision 0007): marks on deployments, the pre-push gate's runs, CI runs --------

# History over every environment reads deployments by start time (analytics of all environments).
Index("ix_deployments_started_at", Deployment.started_at)
# The analytics read one kind of event over a period (rollback.triggered), not all of them.
Index("ix_events_name_timestamp", Event.name, Event.timestamp)


class DeploymentMark(Base):
    """A person's verdict on a finished deployment, e.g. ``false-alarm`` on a rollback that
    should not have happened (the false positive rate of automatic rollbacks)."""

    __tablename__ = "deployment_marks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deployment_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), _deployment_fk())
    mark: Mapped[str] = mapped_column(String(32))
    marked_by: Mapped[str] = mapped_column(String(255))
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("deployment_id", "mark"),)


class PrepushRun(Base):
    """One run of the pre-push gate on a push: what it checked and whether it blocked it."""

    __tablename__ = "prepush_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ran_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    repository: Mapped[str] = mapped_column(String(255))
    branch: Mapped[str | None] = mapped_column(String(255))
    commit_sha: Mapped[str | None] = mapped_column(String(64))
    verdict: Mapped[str] = mapped_column(String(16))
    duration_seconds: Mapped[float] = mapped_column(Float)
    failed_checks: Mapped[list[str]] = mapped_column(JSON, default=list)

    __table_args__ = (CheckConstraint("verdict IN ('passed', 'blocked')", name="prepush_verdict"),)


class CiRun(Base):
    """A CI run a deploy path (github-actions, circleci) started and followed to its end."""

    __tablename__ = "ci_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    path: Mapped[str] = mapped_column(String(100))
    run_id: Mapped[str] = mapped_column(String(255))
    environment: Mapped[str] = mapped_column(String(100))
    version: Mapped[str | None] = mapped_column(String(255))
    # SET NULL: the run's cost outlives the deployment row.
    deployment_id: Mapped[str | None] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("deployments.id", ondelete="SET NULL")
    )
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    conclusion: Mapped[str] = mapped_column(String(32))
    duration_seconds: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (
        UniqueConstraint("path", "run_id"),
        Index("ix_ci_runs_environment_completed_at", "environment", "completed_at"),
    )


class JobRunRow(Base):
    """A background job's run claimed for a key (the drift check of one environment on one
    day): the first process to insert the row runs it, so several `safeship serve` sharing one
    registry do not all run it. A claim never finished after a while is taken over."""

    __tablename__ = "job_runs"

    job: Mapped[str] = mapped_column(String(64), primary_key=True)
    run_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    holder: Mapped[str] = mapped_column(String(255))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ok: Mapped[bool | None] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text)


class GateResultRow(Base):
    """One gate's run before a deployment's release started (safeship.gates): written when the
    gate starts (outcome NULL), finished with its verdict. A row left unfinished is a gate a
    dead safeship was running (recover marks it interrupted)."""

    __tablename__ = "gate_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deployment_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), _deployment_fk(), index=True)
    gate: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    figures: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# -- who may do what (`safeship user`, `safeship serve`'s sign-in; docs/security.md) -----------

USER_ROLES_CHECK = "role IN ('viewer', 'deployer', 'approver', 'admin')"


class UserRow(Base):
    """A person who may sign in to the dashboard; ``password_hash`` is argon2's encoded hash."""

    __tablename__ = "users"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (CheckConstraint(USER_ROLES_CHECK, name="user_role"),)


class ApiTokenRow(Base):
    """A user's API token: only its SHA-256 is kept; ``prefix`` (its first characters, unique)
    finds the row, the digest is compared in constant time."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_name: Mapped[str] = mapped_column(
        String(64), ForeignKey("users.name", ondelete="CASCADE"), index=True
    )
    label: Mapped[str | None] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebSessionRow(Base):
    """A signed-in browser: the SHA-256 of its cookie's random id, its absolute and idle ends."""

    __tablename__ = "web_sessions"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_name: Mapped[str] = mapped_column(
        String(64), ForeignKey("users.name", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ActionNonceRow(Base):
    """A confirm form's one-time nonce (SHA-256): used once, so a resubmitted form acts once."""

    __tablename__ = "action_nonces"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str | None] = mapped_column(Text)


class AuditRow(Base):
    """The audit trail: every sign-in attempt, sign-out, mutation and refusal. Never a secret."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(255))
    outcome: Mapped[str] = mapped_column(String(16))
    client: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text)


class SigninFailureRow(Base):
    """A failed sign-in, counted per user name and per client address by the rate limit (in
    the registry, so every serve process sharing it counts the same failures)."""

    __tablename__ = "signin_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    user_name: Mapped[str] = mapped_column(String(255))
    client: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_signin_failures_user_name_at", "user_name", "at"),
        Index("ix_signin_failures_client_at", "client", "at"),
    )


# -- the artifact file store (safeship.artifacts: backups, build outputs; docs/gates/backup.md) --


class StoredFileRow(Base):
    """A file in the artifact store (a local directory or an fsspec URL): where it is, its
    checksum, and the deployment it belongs to. The file is written before its row (under a
    temporary name, renamed when complete), so a row always names a whole file."""

    __tablename__ = "stored_files"

    id: Mapped[str] = mapped_column(Uuid(as_uuid=False), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    environment: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(255))
    url: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # SET NULL: a stored backup outlives the deployment row it was taken for.
    deployment_id: Mapped[str | None] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("deployments.id", ondelete="SET NULL"), index=True
    )

    __table_args__ = (
        Index("ix_stored_files_kind_environment", "kind", "environment", "created_at"),
    )


# -- releases: one version through the chain of environments (`safeship release`) -------------

RELEASE_STATUSES_CHECK = "status IN ('running', 'succeeded', 'failed', 'aborted')"
RELEASE_STEP_STATUSES_CHECK = (
    "status IN ('pending', 'deploying', 'succeeded', 'failed', 'aborted', 'interrupted')"
)


class ReleaseRow(Base):
    """One `safeship release`: a version walked through the chain of environments. ``holder``
    (user@host pid N) is the process walking it: a second release of the same version is
    refused while that process lives."""

    __tablename__ = "releases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version: Mapped[str] = mapped_column(String(255), index=True)
    commit_sha: Mapped[str | None] = mapped_column(String(64))
    # The environment the release ends at (`--to`); NULL: every end of the chain.
    target: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    triggered_by: Mapped[str] = mapped_column(String(255))
    holder: Mapped[str] = mapped_column(String(255))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (CheckConstraint(RELEASE_STATUSES_CHECK, name="release_status"),)


class ReleaseStepRow(Base):
    """One environment of a release, in chain order: written before its deploy starts
    (deploying), its deployment's id recorded as soon as that row exists."""

    __tablename__ = "release_steps"

    release_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("releases.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    environment: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16))
    # SET NULL: the release's record outlives a deployment row deleted by retention.
    deployment_id: Mapped[str | None] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("deployments.id", ondelete="SET NULL")
    )
    reason: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (CheckConstraint(RELEASE_STEP_STATUSES_CHECK, name="release_step_status"),)


# -- rollback drills and outage pauses (`safeship drill`, `safeship outage`) ------------------


class DrillRow(Base):
    """One rollback drill: back to the previous good version and forward again, each leg
    measured (``legs``: a JSON list, one object a leg). Written before the first leg acts
    (outcome NULL: running, or its safeship died), finished with the outcome."""

    __tablename__ = "drills"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    environment: Mapped[str] = mapped_column(String(100), index=True)
    serving_version: Mapped[str] = mapped_column(String(255))
    previous_version: Mapped[str] = mapped_column(String(255))
    triggered_by: Mapped[str] = mapped_column(String(255))
    outcome: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    legs: Mapped[list[Any]] = mapped_column(JSON, default=list)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class EnvironmentPauseRow(Base):
    """An environment's availability probe failing: opened at the first failure of a streak
    (``since`` NULL: counting), paused once ``failures`` reach the setting (``since`` set:
    deploys refused but emergency ones), closed when the probe answers again (``lifted_at``)."""

    __tablename__ = "environment_pauses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    environment: Mapped[str] = mapped_column(String(100), index=True)
    reason: Mapped[str] = mapped_column(Text)
    failures: Mapped[int] = mapped_column(Integer)
    first_failed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_failed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ApprovalRow(Base):
    """A person's answer to a deployment waiting for approval (safeship.gates.approval): one
    per user and deployment (approving twice acts once). ``user_name`` is a safeship user, or
    ``github:LOGIN`` for a reviewer of the GitHub environment the deploy's job was bound to."""

    __tablename__ = "approvals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deployment_id: Mapped[str] = mapped_column(Uuid(as_uuid=False), _deployment_fk())
    user_name: Mapped[str] = mapped_column(String(255))
    decision: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    via: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("deployment_id", "user_name"),
        CheckConstraint("decision IN ('approve', 'reject')", name="approval_decision"),
        CheckConstraint("via IN ('cli', 'dashboard', 'github')", name="approval_via"),
    )


class RotationRow(Base):
    """One rotation of a secret through its environments (docs/secrets.md). Written before its
    first step acts; ``status`` running, waiting (a manual value), grace (deployed everywhere,
    the previous credential still valid until ``grace_until``), finished, failed or abandoned;
    ``step`` the step it is in (``ENV:STEP``) for a resume."""

    __tablename__ = "rotations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    secret: Mapped[str] = mapped_column(String(128), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(32))
    environments: Mapped[list[Any]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(32))
    step: Mapped[str | None] = mapped_column(String(128))
    triggered_by: Mapped[str] = mapped_column(String(255))
    holder: Mapped[str | None] = mapped_column(String(255))
    reason: Mapped[str | None] = mapped_column(Text)
    grace_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RotationStepRow(Base):
    """One step of a rotation in one environment: the audit trail (who, when, where, the
    versions' fingerprints; never a value). Written before the step acts (``finished_at``
    NULL: running, or its safeship died)."""

    __tablename__ = "rotation_steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rotation_id: Mapped[int] = mapped_column(Integer, ForeignKey("rotations.id"), index=True)
    environment: Mapped[str] = mapped_column(String(100))
    step: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(255))
    version: Mapped[int | None] = mapped_column(Integer)
    fingerprint: Mapped[str | None] = mapped_column(String(32))
    previous_fingerprint: Mapped[str | None] = mapped_column(String(32))
    deployment_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
