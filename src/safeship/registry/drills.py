"""Drills repository: each rollback drill of an environment (`safeship drill`), written before
its first leg acts (outcome NULL) and finished with both legs' figures. ``Registry`` inherits
the methods (see ``store``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from safeship.registry.errors import RegistryError, check_text
from safeship.registry.records import ENVIRONMENT_LEN, PERSON_LEN, VERSION_LEN
from safeship.registry.repository import Repository
from safeship.registry.sql import db_json, db_time, to_json, to_optional_time, to_time

OUTCOME_LEN = 32
REASON_LEN = 4000


_COLUMNS = (
    "id, environment, serving_version, previous_version, triggered_by, outcome, reason, legs, "
    "started_at, finished_at"
)

if TYPE_CHECKING:
    from safeship.registry.gate_rows import DrillRecord


def _record(row: Any) -> DrillRecord:
    from safeship.registry.gate_rows import DrillRecord

    legs = to_json(row[7])
    return DrillRecord(
        int(row[0]),
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        row[6],
        tuple(leg for leg in legs if isinstance(leg, dict)) if isinstance(legs, list) else (),
        to_time(row[8]),
        to_optional_time(row[9]),
    )


class DrillRecords(Repository):
    """Start and finish a drill's row; read an environment's drills."""

    def start_drill(
        self, environment: str, serving_version: str, previous_version: str, triggered_by: str
    ) -> int:
        """The drill's row, running (written before the first leg acts); its id."""
        check_text("environment", environment, ENVIRONMENT_LEN)
        check_text("serving_version", serving_version, VERSION_LEN)
        check_text("previous_version", previous_version, VERSION_LEN)
        check_text("triggered_by", triggered_by, PERSON_LEN)
        now = self._now()
        with self._writing("record a drill") as tx:
            tx.run(
                "INSERT INTO drills (environment, serving_version, previous_version, "
                "triggered_by, outcome, reason, legs, started_at, finished_at) VALUES "
                "(:environment, :serving, :previous, :by, NULL, NULL, :legs, :now, NULL)",
                {
                    "environment": environment,
                    "serving": serving_version,
                    "previous": previous_version,
                    "by": triggered_by,
                    "legs": db_json([]),
                    "now": db_time(tx, now),
                },
            )
            rows = tx.rows(
                "SELECT max(id) FROM drills WHERE environment = :environment",
                {"environment": environment},
            )
            return int(rows[0][0])

    def record_drill_legs(self, drill_id: int, legs: Sequence[Mapping[str, Any]]) -> None:
        """The legs measured so far (each written as soon as it ends)."""
        with self._writing("record a drill's legs") as tx:
            tx.run(
                "UPDATE drills SET legs = :legs WHERE id = :id",
                {"id": drill_id, "legs": db_json([dict(leg) for leg in legs])},
            )

    def finish_drill(
        self,
        drill_id: int,
        outcome: str,
        reason: str | None,
        legs: Sequence[Mapping[str, Any]],
    ) -> None:
        check_text("outcome", outcome, OUTCOME_LEN)
        check_text("reason", reason, REASON_LEN, required=False)
        now = self._now()
        with self._writing("finish a drill") as tx:
            changed = tx.run(
                "UPDATE drills SET outcome = :outcome, reason = :reason, legs = :legs, "
                "finished_at = :now WHERE id = :id",
                {
                    "id": drill_id,
                    "outcome": outcome,
                    "reason": reason,
                    "legs": db_json([dict(leg) for leg in legs]),
                    "now": db_time(tx, now),
                },
            )
            if not changed:
                raise RegistryError(f"no drill {drill_id}")

    def drills(self, environment: str | None = None, limit: int = 50) -> list[DrillRecord]:
        """Drills (of one environment), newest first."""
        if limit < 1:
            raise RegistryError(f"limit must be positive, got {limit}")
        where = "WHERE environment = :environment " if environment is not None else ""
        with self._reading("read drills") as tx:
            rows = tx.rows(
                f"SELECT {_COLUMNS} FROM drills {where}ORDER BY id DESC LIMIT :limit",
                {"environment": environment, "limit": limit},
            )
        return [_record(row) for row in rows]
