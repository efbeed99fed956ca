"""Rotations repository: each rotation of a secret (``rotations``) and its steps, the audit
trail (``rotation_steps``). A rotation's row is written before its first step acts and each
step's row before the step acts, so a resumed rotation (and `safeship secrets history`) sees
what a crashed one was doing. ``Registry`` inherits the methods (see ``store``).

Values never reach these tables: a step records the store's version number and the keyed
fingerprint of the value (safeship.envschema.fingerprint), enough to tell versions apart.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from safeship.registry.errors import RegistryError, check_text
from safeship.registry.records import ENVIRONMENT_LEN, PERSON_LEN
from safeship.registry.repository import Repository
from safeship.registry.sql import (
    advisory_lock,
    db_json,
    db_time,
    to_json,
    to_optional_time,
    to_time,
)

if TYPE_CHECKING:
    from safeship.registry.gate_rows import RotationRecord, RotationStepRecord

SECRET_LEN: Final = 128
KIND_LEN: Final = 64
STATUS_LEN: Final = 32
STEP_LEN: Final = 128
FINGERPRINT_LEN: Final = 32
DEPLOYMENT_ID_LEN: Final = 64
TEXT_LEN: Final = 4000
# A rotation in one of these is not over: one at a time per secret.
OPEN_STATUSES: Final = ("running", "waiting", "grace")

# Whether a holder (``user@host pid N``) is a process known to be gone (the caller's rule:
# the registry knows no processes).
HolderIsDead = Callable[[str], bool]


class RotationBusy(Exception):
    """The rotation is being run by a living process; the message is one line."""

    def __init__(self, rotation: RotationRecord) -> None:
        super().__init__(
            f"the rotation of {rotation.secret} (#{rotation.id}) is running ({rotation.holder}, "
            f"since {rotation.updated_at:%Y-%m-%d %H:%M:%S} UTC)"
        )
        self.rotation = rotation


_COLUMNS = (
    "id, secret, kind, category, environments, status, step, triggered_by, holder, reason, "
    "grace_until, started_at, updated_at, finished_at"
)
_STEP_COLUMNS = (
    "id, rotation_id, environment, step, status, actor, version, fingerprint, "
    "previous_fingerprint, deployment_id, detail, started_at, finished_at"
)


def _record(row: Any, steps: Sequence[RotationStepRecord] = ()) -> RotationRecord:
    from safeship.registry.gate_rows import RotationRecord

    environments = to_json(row[4])
    return RotationRecord(
        int(row[0]),
        row[1],
        row[2],
        row[3],
        tuple(str(e) for e in environments) if isinstance(environments, list) else (),
        row[5],
        row[6],
        row[7],
        row[8],
        row[9],
        to_optional_time(row[10]),
        to_time(row[11]),
        to_time(row[12]),
        to_optional_time(row[13]),
        tuple(steps),
    )


def _step(row: Any) -> RotationStepRecord:
    from safeship.registry.gate_rows import RotationStepRecord

    return RotationStepRecord(
        int(row[0]),
        int(row[1]),
        row[2],
        row[3],
        row[4],
        row[5],
        None if row[6] is None else int(row[6]),
        row[7],
        row[8],
        row[9],
        row[10],
        to_time(row[11]),
        to_optional_time(row[12]),
    )


class RotationRecords(Repository):
    """Start, move and finish a rotation; record its steps; read them back."""

    def start_rotation(
        self,
        secret: str,
        kind: str,
        category: str,
        environments: Sequence[str],
        triggered_by: str,
        holder: str,
    ) -> int:
        """The rotation's row, running (written before its first step acts); its id. A
        RegistryError when the secret has an open rotation already (one at a time)."""
        check_text("secret", secret, SECRET_LEN)
        check_text("kind", kind, KIND_LEN)
        check_text("category", category, STATUS_LEN)
        check_text("triggered_by", triggered_by, PERSON_LEN)
        check_text("holder", holder, PERSON_LEN)
        for environment in environments:
            check_text("environment", environment, ENVIRONMENT_LEN)
        now = self._now()
        with self._writing("record a rotation") as tx:
            open_ = tx.rows(
                "SELECT id, status FROM rotations WHERE secret = :secret AND status IN "
                "('running', 'waiting', 'grace') ORDER BY id DESC LIMIT 1",
                {"secret": secret},
            )
            if open_:
                raise RegistryError(
                    f"{secret} has an open rotation already (#{open_[0][0]}, {open_[0][1]})"
                )
            tx.run(
                "INSERT INTO rotations (secret, kind, category, environments, status, step, "
                "triggered_by, holder, reason, grace_until, started_at, updated_at, "
                "finished_at) VALUES (:secret, :kind, :category, :environments, 'running', "
                "NULL, :by, :holder, NULL, NULL, :now, :now, NULL)",
                {
                    "secret": secret,
                    "kind": kind,
                    "category": category,
                    "environments": db_json(list(environments)),
                    "by": triggered_by,
                    "holder": holder,
                    "now": db_time(tx, now),
                },
            )
            rows = tx.rows(
                "SELECT max(id) FROM rotations WHERE secret = :secret", {"secret": secret}
            )
            return int(rows[0][0])

    def update_rotation(
        self,
        rotation_id: int,
        *,
        status: str | None = None,
        step: str | None = None,
        holder: str | None = None,
        reason: str | None = None,
        grace_until: datetime | None = None,
        finished: bool = False,
    ) -> None:
        """Change what is given (None: unchanged); ``finished``: stamp finished_at now and
        clear the holder."""
        check_text("status", status, STATUS_LEN, required=False)
        check_text("step", step, STEP_LEN, required=False)
        check_text("holder", holder, PERSON_LEN, required=False)
        check_text("reason", reason, TEXT_LEN, required=False)
        now = self._now()
        sets = ["updated_at = :now"]
        values: dict[str, Any] = {"id": rotation_id}
        for column, value in (
            ("status", status),
            ("step", step),
            ("holder", holder),
            ("reason", reason),
        ):
            if value is not None:
                sets.append(f"{column} = :{column}")
                values[column] = value
        with self._writing("update a rotation") as tx:
            values["now"] = db_time(tx, now)
            if grace_until is not None:
                sets.append("grace_until = :grace_until")
                values["grace_until"] = db_time(tx, grace_until)
            if finished:
                sets += ["finished_at = :now", "holder = NULL"]
            changed = tx.run(f"UPDATE rotations SET {', '.join(sets)} WHERE id = :id", values)
            if not changed:
                raise RegistryError(f"no rotation {rotation_id}")

    def claim_rotation(
        self, rotation_id: int, *, holder: str, holder_is_dead: HolderIsDead
    ) -> RotationRecord:
        """Make ``holder`` the process running the rotation (to resume or finish it), in one
        transaction that first checks the present holder: RotationBusy while another living
        process holds it; a holder that is gone (or none: a rotation waiting or in its grace
        period) is replaced. RegistryError when there is no such rotation."""
        check_text("holder", holder, PERSON_LEN)
        now = self._now()
        with self._writing("claim a rotation") as tx:
            advisory_lock(tx, f"rotation/{rotation_id}")
            rows = tx.rows(f"SELECT {_COLUMNS} FROM rotations WHERE id = :id", {"id": rotation_id})
            if not rows:
                raise RegistryError(f"no rotation {rotation_id}")
            found = _record(rows[0])
            if found.holder not in (None, holder) and not holder_is_dead(found.holder):
                raise RotationBusy(found)
            tx.run(
                "UPDATE rotations SET holder = :holder, updated_at = :now WHERE id = :id",
                {"id": rotation_id, "holder": holder, "now": db_time(tx, now)},
            )
        claimed = self.rotation(rotation_id)
        assert claimed is not None, "a rotation row is never deleted"
        return claimed

    def release_rotation(self, rotation_id: int, holder: str) -> None:
        """Clear the rotation's holder if it is still ``holder`` (the process stops running it:
        it waits for a value, or its grace period runs)."""
        now = self._now()
        with self._writing("release a rotation") as tx:
            tx.run(
                "UPDATE rotations SET holder = NULL, updated_at = :now "
                "WHERE id = :id AND holder = :holder",
                {"id": rotation_id, "holder": holder, "now": db_time(tx, now)},
            )

    def rotation(self, rotation_id: int) -> RotationRecord | None:
        """The rotation with its steps (oldest first)."""
        with self._reading("read a rotation") as tx:
            rows = tx.rows(f"SELECT {_COLUMNS} FROM rotations WHERE id = :id", {"id": rotation_id})
            if not rows:
                return None
            steps = tx.rows(
                f"SELECT {_STEP_COLUMNS} FROM rotation_steps WHERE rotation_id = :id ORDER BY id",
                {"id": rotation_id},
            )
        return _record(rows[0], [_step(s) for s in steps])

    def open_rotation(self, secret: str) -> RotationRecord | None:
        """The secret's rotation that is not over (running, waiting, grace), with its steps."""
        found = self.rotations(secret, statuses=OPEN_STATUSES, limit=1)
        return self.rotation(found[0].id) if found else None

    def rotations(
        self,
        secret: str | None = None,
        *,
        statuses: Collection[str] | None = None,
        limit: int = 50,
    ) -> list[RotationRecord]:
        """Rotations (of one secret, in some statuses), newest first, without their steps."""
        if limit < 1:
            raise RegistryError(f"limit must be positive, got {limit}")
        where: list[str] = []
        values: dict[str, Any] = {"limit": limit}
        if secret is not None:
            where.append("secret = :secret")
            values["secret"] = secret
        if statuses is not None:
            names = [f":status{i}" for i in range(len(statuses))]
            where.append(f"status IN ({', '.join(names) or 'NULL'})")
            values.update({f"status{i}": s for i, s in enumerate(statuses)})
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        with self._reading("read rotations") as tx:
            rows = tx.rows(
                f"SELECT {_COLUMNS} FROM rotations {clause}ORDER BY id DESC LIMIT :limit", values
            )
        return [_record(row) for row in rows]

    def start_rotation_step(
        self,
        rotation_id: int,
        environment: str,
        step: str,
        actor: str,
        *,
        version: int | None = None,
        fingerprint: str | None = None,
        previous_fingerprint: str | None = None,
    ) -> int:
        """A step's audit row, started (written before the step acts); its id."""
        check_text("environment", environment, ENVIRONMENT_LEN)
        check_text("step", step, STATUS_LEN)
        check_text("actor", actor, PERSON_LEN)
        check_text("fingerprint", fingerprint, FINGERPRINT_LEN, required=False)
        check_text("previous_fingerprint", previous_fingerprint, FINGERPRINT_LEN, required=False)
        now = self._now()
        with self._writing("record a rotation step") as tx:
            tx.run(
                "INSERT INTO rotation_steps (rotation_id, environment, step, status, actor, "
                "version, fingerprint, previous_fingerprint, deployment_id, detail, "
                "started_at, finished_at) VALUES (:rotation, :environment, :step, 'started', "
                ":actor, :version, :fingerprint, :previous, NULL, NULL, :now, NULL)",
                {
                    "rotation": rotation_id,
                    "environment": environment,
                    "step": step,
                    "actor": actor,
                    "version": version,
                    "fingerprint": fingerprint,
                    "previous": previous_fingerprint,
                    "now": db_time(tx, now),
                },
            )
            rows = tx.rows(
                "SELECT max(id) FROM rotation_steps WHERE rotation_id = :rotation",
                {"rotation": rotation_id},
            )
            return int(rows[0][0])

    def finish_rotation_step(
        self,
        step_id: int,
        status: str,
        *,
        detail: str | None = None,
        deployment_id: str | None = None,
        version: int | None = None,
        fingerprint: str | None = None,
    ) -> None:
        """The step's outcome (done, failed, skipped); ``detail`` one line, redacted by the
        caller; what else is given is recorded too."""
        check_text("status", status, STATUS_LEN)
        check_text("detail", detail, TEXT_LEN, required=False)
        check_text("deployment_id", deployment_id, DEPLOYMENT_ID_LEN, required=False)
        check_text("fingerprint", fingerprint, FINGERPRINT_LEN, required=False)
        now = self._now()
        sets = ["status = :status", "detail = :detail", "finished_at = :now"]
        values: dict[str, Any] = {"id": step_id, "status": status, "detail": detail}
        for column, value in (
            ("deployment_id", deployment_id),
            ("version", version),
            ("fingerprint", fingerprint),
        ):
            if value is not None:
                sets.append(f"{column} = :{column}")
                values[column] = value
        with self._writing("finish a rotation step") as tx:
            values["now"] = db_time(tx, now)
            changed = tx.run(f"UPDATE rotation_steps SET {', '.join(sets)} WHERE id = :id", values)
            if not changed:
                raise RegistryError(f"no rotation step {step_id}")

    def last_rotated(self, secret: str, environment: str) -> tuple[datetime, str] | None:
        """When ``secret`` was last rotated in ``environment`` and by whom: the finish step of
        its newest finished rotation there (None: never)."""
        with self._reading("read the last rotation") as tx:
            rows = tx.rows(
                "SELECT s.finished_at, r.triggered_by FROM rotation_steps s JOIN rotations r "
                "ON r.id = s.rotation_id WHERE r.secret = :secret AND s.environment = :env "
                "AND s.step = 'finish' AND s.status = 'done' ORDER BY s.id DESC LIMIT 1",
                {"secret": secret, "env": environment},
            )
        if not rows:
            return None
        return to_time(rows[0][0]), str(rows[0][1])
