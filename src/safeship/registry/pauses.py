"""Environment pauses repository: the outage mode's record of an environment whose
availability probe fails (`safeship outage`). One open row per environment at most (lifted_at
NULL): opened at the first failure of a streak and counting (``since`` NULL), paused when the
count reaches the threshold (``since`` set: deploys are refused but emergency ones), closed
when the probe answers again. Each change is one transaction, serialised per environment (an
advisory lock on PostgreSQL, SQLite's single writer), so two probing processes count right.
``Registry`` inherits the methods (see ``store``)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from safeship.registry.errors import RegistryError, check_text
from safeship.registry.records import ENVIRONMENT_LEN
from safeship.registry.repository import Repository
from safeship.registry.sql import Tx, advisory_lock, db_time, to_optional_time, to_time

if TYPE_CHECKING:
    from safeship.registry.gate_rows import EnvironmentPause, ProbeRecorded

REASON_LEN = 4000


_COLUMNS = "id, environment, reason, failures, first_failed_at, last_failed_at, since, lifted_at"


def _pause(row: Any) -> EnvironmentPause:
    from safeship.registry.gate_rows import EnvironmentPause

    return EnvironmentPause(
        int(row[0]),
        row[1],
        row[2],
        int(row[3]),
        to_time(row[4]),
        to_time(row[5]),
        to_optional_time(row[6]),
        to_optional_time(row[7]),
    )


def _open(tx: Tx, environment: str) -> EnvironmentPause | None:
    lock = " FOR UPDATE" if tx.dialect == "postgresql" else ""
    rows = tx.rows(
        f"SELECT {_COLUMNS} FROM environment_pauses WHERE environment = :environment "
        f"AND lifted_at IS NULL ORDER BY id DESC{lock}",
        {"environment": environment},
    )
    return _pause(rows[0]) if rows else None


class PauseRecords(Repository):
    """Count an environment's probe failures, pause it, lift the pause; read pauses."""

    def record_probe_failure(
        self, environment: str, reason: str, threshold: int, *, min_gap: float = 0.0
    ) -> ProbeRecorded:
        """One more consecutive failure; deploys pause when ``threshold`` are reached. A
        failure within ``min_gap`` seconds of the last one counted is not counted again (the
        same minute's probe of another `safeship serve` sharing the registry)."""
        from safeship.registry.gate_rows import ProbeRecorded

        check_text("environment", environment, ENVIRONMENT_LEN)
        check_text("reason", reason, REASON_LEN)
        if threshold < 1:
            raise RegistryError(f"threshold must be positive, got {threshold}")
        now = self._now()
        with self._writing("record a probe failure") as tx:
            advisory_lock(tx, f"pause/{environment}")
            current = _open(tx, environment)
            if current is None:
                tx.run(
                    "INSERT INTO environment_pauses (environment, reason, failures, "
                    "first_failed_at, last_failed_at, since, lifted_at) VALUES "
                    "(:environment, :reason, 1, :now, :now, :since, NULL)",
                    {
                        "environment": environment,
                        "reason": reason,
                        "now": db_time(tx, now),
                        "since": db_time(tx, now) if threshold <= 1 else None,
                    },
                )
                after = _open(tx, environment)
                return ProbeRecorded(after, paused_now=threshold <= 1)
            if (now - current.last_failed_at).total_seconds() < min_gap:
                return ProbeRecorded(current)
            failures = current.failures + 1
            pausing = current.since is None and failures >= threshold
            tx.run(
                "UPDATE environment_pauses SET failures = :failures, reason = :reason, "
                "last_failed_at = :now"
                + (", since = :now" if pausing else "")
                + " WHERE id = :id",
                {"id": current.id, "failures": failures, "reason": reason,
                 "now": db_time(tx, now)},
            )  # fmt: skip
            return ProbeRecorded(_open(tx, environment), paused_now=pausing)

    def record_probe_success(self, environment: str) -> ProbeRecorded:
        """The probe answered: the open row (a pause, or a streak of failures) is closed."""
        from safeship.registry.gate_rows import ProbeRecorded

        now = self._now()
        with self._writing("record a probe success") as tx:
            advisory_lock(tx, f"pause/{environment}")
            current = _open(tx, environment)
            if current is None:
                return ProbeRecorded(None)
            tx.run(
                "UPDATE environment_pauses SET lifted_at = :now WHERE id = :id",
                {"id": current.id, "now": db_time(tx, now)},
            )
        lifted = current if current.since is not None else None
        return ProbeRecorded(None, lifted=replace(lifted, lifted_at=now) if lifted else None)

    def environment_pause(self, environment: str) -> EnvironmentPause | None:
        """The environment's pause in force (deploys refused), or None."""
        with self._reading("read an environment's pause") as tx:
            current = _open(tx, environment)
        return current if current is not None and current.paused else None

    def environment_pauses(
        self, environment: str | None = None, limit: int = 50
    ) -> list[EnvironmentPause]:
        """The open rows and past pauses (of one environment), newest first."""
        if limit < 1:
            raise RegistryError(f"limit must be positive, got {limit}")
        where = "WHERE environment = :environment " if environment is not None else ""
        with self._reading("read environment pauses") as tx:
            rows = tx.rows(
                f"SELECT {_COLUMNS} FROM environment_pauses {where}ORDER BY id DESC LIMIT :limit",
                {"environment": environment, "limit": limit},
            )
        return [_pause(row) for row in rows]
