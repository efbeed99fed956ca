"""What the registry returns: its rows as plain, frozen data, and the limits of their fields.

Nothing here touches a database, so a caller can name the records without opening one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from safeship.deployment_status import TERMINAL, Status

# The state machine owns the statuses; the registry only checks what it is given against them.
STATUSES: Final = frozenset(status.value for status in Status)
TERMINAL_STATUSES: Final = frozenset(status.value for status in TERMINAL)

# Column lengths, checked before writing (SQLite ignores them; PostgreSQL refuses longer text).
# models.py declares the same lengths; tests/integration/test_registry.py keeps them equal.
ENVIRONMENT_LEN: Final = 100
VERSION_LEN: Final = 255
COMMIT_LEN: Final = 64
PERSON_LEN: Final = 255  # triggered_by, requested_by, taken_by, a lease's holder
EVENT_NAME_LEN: Final = 100
KEY_ID_LEN: Final = 64
PATH_LEN: Final = 100
STRATEGY_LEN: Final = 32
RULE_LEN: Final = 64
VERDICT_LEN: Final = 32
CHECK_NAME_LEN: Final = 100

RequestKind = Literal["pause", "abort", "rollback", "resume", "promote"]
REQUEST_KINDS: Final = frozenset({"pause", "abort", "rollback", "resume", "promote"})
GateVerdict = Literal["passed", "failed", "not_run"]
# A step result with one of these verdicts holds a deployment's final traffic totals.
FINAL_VERDICTS: Final = frozenset({"promoted", "rolled_back"})


@dataclass(frozen=True, slots=True)
class DeploymentRecord:
    """A deployment row as plain data, with its step results (``steps``, in step order: the
    canary judge's figures per traffic step, then the final traffic totals) and its check
    results (``checks``, in the order they ran); see docs/registry.md."""

    id: str
    environment: str
    version: str
    commit_sha: str | None
    triggered_by: str
    status: str
    started_at: datetime
    completed_at: datetime | None
    current_step: int | None
    health_score: float | None
    error_count: int
    rollback_reason: str | None
    path: str | None = None
    strategy: str | None = None
    rollback_rule: str | None = None
    gate_verdict: str | None = None
    stable_version: str | None = None
    paused_at: int | None = None
    notes: str | None = None
    steps: tuple[StepResult, ...] = ()
    checks: tuple[CheckResultRecord, ...] = ()

    @property
    def duration_seconds(self) -> float | None:
        if self.completed_at is None:
            return None
        return (self.completed_at - self.started_at).total_seconds()

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


@dataclass(frozen=True, slots=True)
class DeploymentNotes:
    """What a deployment's row records from the start, beside what it deploys."""

    path: str | None = None  # the deploy path that runs it; None: this machine
    strategy: str | None = None
    gate_verdict: str | None = None  # the pre-push gate's verdict for the commit
    stable_version: str | None = None  # the release serving before it
    notes: str | None = None  # free-form: e.g. who ran an emergency deploy, from where


@dataclass(frozen=True, slots=True)
class EventRecord:
    """An event row as plain data; ``deployment_id`` is None for environment-level events."""

    id: int
    deployment_id: str | None
    timestamp: datetime
    name: str
    attributes: dict[str, Any]


@dataclass(frozen=True, slots=True)
class EnvSnapshotRecord:
    """An environment snapshot as plain data; ``variables`` as ``Registry.add_env_snapshot``."""

    id: str
    environment: str
    taken_at: datetime
    taken_by: str
    fingerprint_key_id: str | None
    variables: dict[str, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Lease:
    """A lease row as plain data. ``previous``: the expired lease this one replaced, if any."""

    environment: str
    holder: str
    token: str
    deployment_id: str | None
    acquired_at: datetime
    heartbeat_at: datetime
    expires_at: datetime
    previous: Lease | None = None

    @property
    def taken_over(self) -> bool:
        return self.previous is not None


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """A person's request to a running deployment (`safeship pause/abort/rollback/...`);
    ``handled_at`` is None until the deployment acted on it."""

    id: int
    deployment_id: str
    kind: str
    requested_by: str
    reason: str | None
    created_at: datetime
    handled_at: datetime | None


@dataclass(frozen=True, slots=True)
class StepResult:
    """The canary judge's figures at one traffic step, and the traffic it saw.

    Error rates are fractions (0.02 = 2 %); latencies are mean milliseconds; ``p_value`` is
    the error metric's p-value of "canary worse"; ``latency_ratio`` is canary / stable mean.
    """

    step_index: int
    weight: int
    verdict: str
    score: float | None = None
    reason: str | None = None
    canary_error_rate: float | None = None
    stable_error_rate: float | None = None
    error_p_value: float | None = None
    canary_latency_ms: float | None = None
    stable_latency_ms: float | None = None
    latency_ratio: float | None = None
    canary_requests: int | None = None
    canary_errors: int | None = None
    stable_requests: int | None = None
    stable_errors: int | None = None
    # The judge's verdict per metric (``pass``, ``high``, ``nodata``, ...).
    error_verdict: str | None = None
    latency_verdict: str | None = None
    created_at: datetime | None = None  # set by the registry when stored

    @property
    def is_final(self) -> bool:
        """The deployment's final traffic totals (written at its ending), not a judged step."""
        return self.verdict in FINAL_VERDICTS


@dataclass(frozen=True, slots=True)
class CheckResultRecord:
    """One health check's outcome at verification (``status``: ok, degraded or failed)."""

    level: int
    name: str
    status: str
    duration_ms: float
    detail: str = ""
    critical: bool = True
    created_at: datetime | None = None  # set by the registry when stored

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True, slots=True)
class BaselineRecord:
    """A release's level-4 performance sample, to compare the next release of the environment
    with (``path``: the URL path sampled; baselines of two paths are not comparable)."""

    environment: str
    version: str
    path: str
    sample_count: int
    errors: int
    error_rate: float
    mean_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    duration_s: float | None = None
    cpu_percent: float | None = None  # the release's processes while sampled
    rss_mb: float | None = None
    compared_with: str | None = None  # the version it was compared with; None: the first
    deployment_id: str | None = None
    created_at: datetime | None = None  # set by the registry when stored
