"""Secret rotation (docs/secrets.md): rotate, set a manual value, finish, status, history.

The protocol is the pipeline's (:mod:`safeship.pipeline.rotation`); this module opens the
registry, names the actor, and hands typed records to the faces. No record here holds a value:
versions are numbers and fingerprints.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from safeship.config import LoadedConfig
    from safeship.pipeline.rotation import RotationNotice
    from safeship.registry.gate_rows import RotationRecord


@dataclass(frozen=True)
class RotationStep:
    """One audit row of a rotation: who did which step where, on which version."""

    environment: str
    step: str  # create, set, apply, test, deploy, discard, finish
    status: str  # started, done, failed, skipped
    actor: str
    version: int | None
    fingerprint: str | None
    previous_fingerprint: str | None
    deployment_id: str | None
    detail: str | None
    started_at: datetime
    finished_at: datetime | None

    def as_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "step": self.step,
            "status": self.status,
            "actor": self.actor,
            "version": self.version,
            "fingerprint": self.fingerprint,
            "previous_fingerprint": self.previous_fingerprint,
            "deployment_id": self.deployment_id,
            "detail": self.detail,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }


@dataclass(frozen=True)
class RotationResult:
    id: int
    secret: str
    kind: str
    category: str
    environments: tuple[str, ...]
    status: str  # running, waiting, grace, finished, failed
    step: str | None  # ENV:STEP it is at
    triggered_by: str
    holder: str | None
    reason: str | None
    grace_until: datetime | None
    started_at: datetime
    finished_at: datetime | None
    steps: tuple[RotationStep, ...] = ()

    @property
    def ok(self) -> bool:
        """No step failed (a rotation whose later environment failed is in its grace period
        for the earlier ones, and is not ok)."""
        return self.status != "failed" and not any(s.status == "failed" for s in self.steps)

    @property
    def waiting_in(self) -> str | None:
        """The environment a waiting rotation wants a value for."""
        if self.status != "waiting" or not self.step:
            return None
        return self.step.split(":")[0]

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "secret": self.secret,
            "kind": self.kind,
            "category": self.category,
            "environments": list(self.environments),
            "status": self.status,
            "ok": self.ok,
            "step": self.step,
            "triggered_by": self.triggered_by,
            "holder": self.holder,
            "reason": self.reason,
            "grace_until": self.grace_until.isoformat() if self.grace_until else None,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "steps": [s.as_json() for s in self.steps],
        }


@dataclass(frozen=True)
class SecretStatus:
    """One rotated secret in one environment."""

    secret: str
    environment: str
    kind: str
    category: str
    period_days: float  # 0: on demand only
    last_rotated_at: datetime | None
    last_rotated_by: str | None  # None: known from the store's version only
    age_days: float | None
    next_due: datetime | None
    state: str  # ok, due, overdue, on_demand, never_rotated
    rotation_status: str | None  # the open rotation's (running, waiting, grace)
    rotation_step: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "secret": self.secret,
            "environment": self.environment,
            "kind": self.kind,
            "category": self.category,
            "period_days": self.period_days,
            "last_rotated_at": self.last_rotated_at.isoformat() if self.last_rotated_at else None,
            "last_rotated_by": self.last_rotated_by,
            "age_days": None if self.age_days is None else round(self.age_days, 2),
            "next_due": self.next_due.isoformat() if self.next_due else None,
            "state": self.state,
            "rotation_status": self.rotation_status,
            "rotation_step": self.rotation_step,
        }


RotationNoticeCallback = Callable[["RotationNotice"], None]


def rotate_secret(
    loaded: LoadedConfig,
    name: str,
    *,
    environments: Sequence[str] | None = None,
    resume: bool = False,
    triggered_by: str,
    on_progress: RotationNoticeCallback | None = None,
    event_log: TextIO | None = None,
) -> RotationResult:
    """Rotate ``name`` through its environments (``environments``: these, in this order);
    ``resume``: go on with its open rotation (one whose process died is taken over).
    RotationRefused (usage) for an unknown secret or an open rotation without ``resume``;
    RotationBusy while another living process runs it."""
    from safeship.pipeline import rotation
    from safeship.registry import Registry

    with Registry(loaded.registry_url()) as registry:
        record = rotation.start(
            loaded,
            registry,
            name,
            environments=environments,
            resume=resume,
            actor=triggered_by,
            on_notice=on_progress,
            event_log=event_log,
        )
    _reports(loaded, record)
    return rotation_result(record)


def set_secret_value(
    loaded: LoadedConfig,
    name: str,
    environment: str,
    value: str,
    *,
    triggered_by: str,
    on_progress: RotationNoticeCallback | None = None,
    event_log: TextIO | None = None,
) -> RotationResult:
    """The value of a manual rotation that waits in ``environment``: stored as the pending
    version (audit step ``set``), then the rotation goes on."""
    from safeship.pipeline import rotation
    from safeship.redaction import register_secret
    from safeship.registry import Registry

    register_secret(value)
    loaded.environment(environment)
    with Registry(loaded.registry_url()) as registry:
        record = rotation.set_value(
            loaded,
            registry,
            name,
            environment,
            value,
            actor=triggered_by,
            on_notice=on_progress,
            event_log=event_log,
        )
    _reports(loaded, record)
    return rotation_result(record)


def finish_rotation(
    loaded: LoadedConfig,
    name: str,
    *,
    force: bool = False,
    triggered_by: str,
    event_log: TextIO | None = None,
) -> RotationResult:
    """The finish step of ``name``'s rotation (before its grace period ends only with
    ``force``): the new value current, the previous one revoked."""
    from safeship.pipeline import rotation
    from safeship.registry import Registry

    with Registry(loaded.registry_url()) as registry:
        record = rotation.finish(
            loaded, registry, name, force=force, actor=triggered_by, event_log=event_log
        )
    return rotation_result(record)


def finish_due_rotations(
    loaded: LoadedConfig, *, triggered_by: str = "serve", event_log: TextIO | None = None
) -> list[RotationResult]:
    """Finish every rotation whose grace period has passed (the serve job calls this). A
    secret no longer in safeship.toml is left as it is, and one another process is finishing
    now is left to it. A finish that fails (the provider refuses the revoke) does not keep
    the others waiting: each is tried, then RotationFailed names every one that failed (they
    stay in their grace period, to finish at the next run)."""
    from safeship.pipeline import rotation
    from safeship.registry import Registry
    from safeship.registry.rotations import RotationBusy

    finished: list[RotationResult] = []
    failures: list[str] = []
    with Registry(loaded.registry_url()) as registry:
        for due in rotation.due_for_finish(registry):
            if due.secret not in loaded.config.secrets.rotate:
                continue
            try:
                record = rotation.finish(
                    loaded, registry, due.secret, force=False, actor=triggered_by,
                    event_log=event_log,
                )  # fmt: skip
            except RotationBusy:
                continue
            except rotation.RotationFailed as exc:
                failures.append(str(exc))
                continue
            finished.append(rotation_result(record))
    if failures:
        done = f" ({len(finished)} finished)" if finished else ""
        raise rotation.RotationFailed("; ".join(failures) + done)
    return finished


def secret_statuses(loaded: LoadedConfig, *, now: datetime | None = None) -> list[SecretStatus]:
    """Each rotated secret in each of its environments: its period, last rotation, age, next
    due date and state (rotation/schedule.py's ``due``), and its open rotation."""
    from safeship.pipeline.rotation import environments_of
    from safeship.registry import Registry
    from safeship.rotation.schedule import due, last_rotated
    from safeship.secrets.base import SecretStoreError

    settings = loaded.config.secrets
    moment = now or datetime.now(UTC)
    statuses: list[SecretStatus] = []
    with Registry(loaded.registry_url()) as registry:
        for name, secret in sorted(settings.rotate.items()):
            open_ = registry.open_rotation(name)
            period = settings.period(name)
            for environment in environments_of(loaded, name):
                try:
                    at, by = last_rotated(registry, settings, loaded.base_dir, name, environment)
                except SecretStoreError:  # the store cannot say: reported as never rotated
                    at, by = None, None
                found = due(at, period, settings.remind_before, moment)
                statuses.append(
                    SecretStatus(
                        secret=name,
                        environment=environment,
                        kind=secret.kind,
                        category=secret.category,
                        period_days=period,
                        last_rotated_at=at,
                        last_rotated_by=by,
                        age_days=found.age_days,
                        next_due=found.next_due,
                        state=found.state,
                        rotation_status=open_.status if open_ else None,
                        rotation_step=open_.step if open_ else None,
                    )
                )
    return statuses


def rotation_history(
    loaded: LoadedConfig, name: str | None = None, limit: int = 20
) -> list[RotationResult]:
    """Rotations (of ``name``), newest first, each with its audit steps."""
    from safeship.pipeline.rotation import secret_settings
    from safeship.registry import Registry

    if name is not None and name not in loaded.config.secrets.rotate:
        with Registry(loaded.registry_url()) as registry:
            if not registry.rotations(name, limit=1):
                secret_settings(loaded, name)  # the usage error naming the table
    with Registry(loaded.registry_url()) as registry:
        found = registry.rotations(name, limit=limit)
        records = [registry.rotation(r.id) or r for r in found]
    return [rotation_result(r) for r in records]


def rotation_result(record: RotationRecord) -> RotationResult:
    return RotationResult(
        id=record.id,
        secret=record.secret,
        kind=record.kind,
        category=record.category,
        environments=record.environments,
        status=record.status,
        step=record.step,
        triggered_by=record.triggered_by,
        holder=record.holder,
        reason=record.reason,
        grace_until=record.grace_until,
        started_at=record.started_at,
        finished_at=record.finished_at,
        steps=tuple(
            RotationStep(
                s.environment,
                s.step,
                s.status,
                s.actor,
                s.version,
                s.fingerprint,
                s.previous_fingerprint,
                s.deployment_id,
                s.detail,
                s.started_at,
                s.finished_at,
            )
            for s in record.steps
        ),
    )


def _reports(loaded: LoadedConfig, record: RotationRecord) -> None:
    """The reports of the deployments the rotation made (as after any deploy)."""
    from safeship.core._reports import store_reports

    for environment in {s.environment for s in record.steps if s.deployment_id}:
        store_reports(loaded, environment)
