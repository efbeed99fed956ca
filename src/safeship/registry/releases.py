"""Releases repository: one version walked through the chain of environments
(`safeship release`), a row per release and one per environment it deploys, in chain order.

Every step's row is written before the step acts (write-ahead): the step says ``deploying``
before its deploy starts, and names its deployment as soon as that row exists, so a release
whose safeship died can be resumed from what is on disk. At most one release of a version runs
at a time: starting one and taking one over are each one transaction (SQLite's BEGIN IMMEDIATE,
a PostgreSQL advisory lock per version) that first checks the running one's holder.
``Registry`` inherits the methods (see ``store``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any, Final

from safeship.registry.errors import RegistryError, check_text
from safeship.registry.records import COMMIT_LEN, ENVIRONMENT_LEN, PERSON_LEN, VERSION_LEN
from safeship.registry.repository import Repository
from safeship.registry.sql import (
    Tx,
    advisory_lock,
    db_id,
    db_time,
    to_optional_id,
    to_optional_time,
    to_time,
)

if TYPE_CHECKING:
    from safeship.registry.gate_rows import ReleaseRecord, ReleaseStepRecord

RELEASE_STATUSES: Final = ("running", "succeeded", "failed", "aborted")
# pending: not reached yet; deploying: its deploy started (its deployment named once it
# exists); interrupted: Ctrl-C stopped its deploy (the release stays resumable).
STEP_STATUSES: Final = ("pending", "deploying", "succeeded", "failed", "aborted", "interrupted")
REASON_LEN: Final = 4000

# Whether a holder (``user@host pid N``) is a process known to be gone (the caller's rule:
# the registry knows no processes).
HolderIsDead = Callable[[str], bool]


class ReleaseBusy(Exception):
    """The version's release is being walked by a living process; the message is one line."""

    def __init__(self, release: ReleaseRecord) -> None:
        super().__init__(
            f"release {release.id} of {release.version} is running ({release.holder}, since "
            f"{release.started_at:%Y-%m-%d %H:%M:%S} UTC)"
        )
        self.release = release


_RELEASE_COLUMNS = (
    "id, version, commit_sha, target, status, reason, triggered_by, holder, started_at, finished_at"
)
_STEP_COLUMNS = (
    "release_id, position, environment, status, deployment_id, reason, started_at, finished_at"
)


def _release(row: Any, steps: Sequence[ReleaseStepRecord]) -> ReleaseRecord:
    from safeship.registry.gate_rows import ReleaseRecord

    return ReleaseRecord(
        int(row[0]),
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        row[6],
        row[7],
        to_time(row[8]),
        to_optional_time(row[9]),
        tuple(steps),
    )


def _step(row: Any) -> ReleaseStepRecord:
    from safeship.registry.gate_rows import ReleaseStepRecord

    return ReleaseStepRecord(
        int(row[0]),
        int(row[1]),
        row[2],
        row[3],
        to_optional_id(row[4]),
        row[5],
        to_optional_time(row[6]),
        to_optional_time(row[7]),
    )


def _read(tx: Tx, where: str, params: dict[str, object], limit: int) -> list[ReleaseRecord]:
    rows = tx.rows(
        f"SELECT {_RELEASE_COLUMNS} FROM releases {where} ORDER BY id DESC LIMIT :limit",
        {**params, "limit": limit},
    )
    if not rows:
        return []
    ids = [int(row[0]) for row in rows]
    marks = ", ".join(f":r{i}" for i in range(len(ids)))
    step_rows = tx.rows(
        f"SELECT {_STEP_COLUMNS} FROM release_steps WHERE release_id IN ({marks}) "
        "ORDER BY release_id, position",
        {f"r{i}": value for i, value in enumerate(ids)},
    )
    steps: dict[int, list[ReleaseStepRecord]] = {}
    for step_row in step_rows:
        step = _step(step_row)
        steps.setdefault(step.release_id, []).append(step)
    return [_release(row, steps.get(int(row[0]), [])) for row in rows]


def _check_status(name: str, value: str, allowed: Collection[str]) -> None:
    if value not in allowed:
        raise RegistryError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")


class ReleaseRecords(Repository):
    """Start, take over, step and finish a release; read releases with their steps."""

    def start_release(
        self,
        version: str,
        commit_sha: str | None,
        target: str | None,
        environments: Sequence[str],
        *,
        triggered_by: str,
        holder: str,
        holder_is_dead: HolderIsDead,
    ) -> ReleaseRecord:
        """A new running release of ``version`` with a pending step per environment (in this
        order). Raises ``ReleaseBusy`` while another release of the version runs under a living
        holder; one whose holder is gone is ended aborted (superseded by this one)."""
        check_text("version", version, VERSION_LEN)
        check_text("commit_sha", commit_sha, COMMIT_LEN, required=False)
        check_text("target", target, ENVIRONMENT_LEN, required=False)
        check_text("triggered_by", triggered_by, PERSON_LEN)
        check_text("holder", holder, PERSON_LEN)
        if not environments:
            raise RegistryError("a release needs at least one environment")
        for environment in environments:
            check_text("environment", environment, ENVIRONMENT_LEN)
        now = self._now()
        with self._writing("start a release") as tx:
            advisory_lock(tx, f"release/{version}")
            running = _read(
                tx, "WHERE version = :version AND status = 'running'", {"version": version}, 100
            )
            for other in running:
                if not holder_is_dead(other.holder):
                    raise ReleaseBusy(other)
            [(release_id,)] = tx.rows(
                f"INSERT INTO releases ({_RELEASE_COLUMNS.removeprefix('id, ')}) VALUES "
                "(:version, :commit, :target, 'running', NULL, :by, :holder, :now, NULL) "
                "RETURNING id",
                {
                    "version": version,
                    "commit": commit_sha,
                    "target": target,
                    "by": triggered_by,
                    "holder": holder,
                    "now": db_time(tx, now),
                },
            )
            for other in running:
                tx.run(
                    "UPDATE releases SET status = 'aborted', reason = :reason, finished_at = :now "
                    "WHERE id = :id",
                    {
                        "id": other.id,
                        "reason": f"left unfinished by {other.holder} (gone); "
                        f"superseded by release {release_id}",
                        "now": db_time(tx, now),
                    },
                )
            for position, environment in enumerate(environments):
                tx.run(
                    f"INSERT INTO release_steps ({_STEP_COLUMNS}) VALUES "
                    "(:release, :position, :environment, 'pending', NULL, NULL, NULL, NULL)",
                    {"release": release_id, "position": position, "environment": environment},
                )
            [record] = _read(tx, "WHERE id = :id", {"id": int(release_id)}, 1)
        return record

    def take_over_release(
        self, release_id: int, *, holder: str, holder_is_dead: HolderIsDead
    ) -> ReleaseRecord:
        """Make ``holder`` the release's walker again (running, unfinished), to resume it.
        Raises ``ReleaseBusy`` while it runs under another living holder, RegistryError when
        there is no such release."""
        check_text("holder", holder, PERSON_LEN)
        with self._writing("take over a release") as tx:
            found = _read(tx, "WHERE id = :id", {"id": release_id}, 1)
            if not found:
                raise RegistryError(f"no release {release_id}")
            [release] = found
            advisory_lock(tx, f"release/{release.version}")
            running = _read(
                tx,
                "WHERE version = :version AND status = 'running'",
                {"version": release.version},
                100,
            )
            for other in running:
                if other.holder != holder and not holder_is_dead(other.holder):
                    raise ReleaseBusy(other)
            tx.run(
                "UPDATE releases SET status = 'running', reason = NULL, finished_at = NULL, "
                "holder = :holder WHERE id = :id",
                {"id": release_id, "holder": holder},
            )
            [record] = _read(tx, "WHERE id = :id", {"id": release_id}, 1)
        return record

    def update_release_step(
        self,
        release_id: int,
        position: int,
        *,
        status: str | None = None,
        deployment_id: str | None = None,
        reason: str | None = None,
        started: bool = False,
        finished: bool = False,
    ) -> None:
        """Change a step (None leaves a field as it is; ``started`` stamps started_at and
        clears the deployment, the reason and finished_at of an earlier attempt)."""
        changes: dict[str, object] = {}
        if status is not None:
            _check_status("step status", status, STEP_STATUSES)
            changes["status"] = status
        if started:
            changes.update(deployment_id=None, reason=None, finished_at=None)
        if deployment_id is not None:
            changes["deployment_id"] = db_id(deployment_id)
        if reason is not None:
            check_text("reason", reason, REASON_LEN)
            changes["reason"] = reason
        now = self._now()
        with self._writing("record a release step") as tx:
            if started:
                changes["started_at"] = db_time(tx, now)
            if finished:
                changes["finished_at"] = db_time(tx, now)
            if not changes:
                return
            assignments = ", ".join(f"{column} = :{column}" for column in changes)
            changed = tx.run(
                f"UPDATE release_steps SET {assignments} "
                "WHERE release_id = :release_id AND position = :position",
                {**changes, "release_id": release_id, "position": position},
            )
            if not changed:
                raise RegistryError(f"no step {position} in release {release_id}")

    def finish_release(self, release_id: int, status: str, reason: str | None = None) -> None:
        _check_status("release status", status, RELEASE_STATUSES[1:])
        check_text("reason", reason, REASON_LEN, required=False)
        now = self._now()
        with self._writing("finish a release") as tx:
            tx.run(
                "UPDATE releases SET status = :status, reason = :reason, finished_at = :now "
                "WHERE id = :id",
                {"id": release_id, "status": status, "reason": reason, "now": db_time(tx, now)},
            )

    def release(self, release_id: int) -> ReleaseRecord | None:
        with self._reading("read a release") as tx:
            found = _read(tx, "WHERE id = :id", {"id": release_id}, 1)
        return found[0] if found else None

    def releases(
        self, *, limit: int = 20, statuses: Collection[str] = (), version: str | None = None
    ) -> list[ReleaseRecord]:
        """Releases with their steps, newest first (only ``statuses``, of ``version``, when
        given)."""
        conditions: list[str] = []
        params: dict[str, object] = {}
        if statuses:
            marks = []
            for i, status in enumerate(statuses):
                params[f"s{i}"] = status
                marks.append(f":s{i}")
            conditions.append(f"status IN ({', '.join(marks)})")
        if version is not None:
            conditions.append("version = :version")
            params["version"] = version
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        with self._reading("read releases") as tx:
            return _read(tx, where, params, limit)
