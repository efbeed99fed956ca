"""Approvals repository: the answers people gave a deployment waiting for approval, one per
user and deployment (an answer given twice is recorded once). ``Registry`` inherits the
methods (see ``store``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, Literal

from safeship.registry.errors import RegistryError, check_text
from safeship.registry.records import PERSON_LEN
from safeship.registry.repository import Repository
from safeship.registry.sql import db_id, db_time, to_id, to_time

if TYPE_CHECKING:
    from safeship.registry.gate_rows import ApprovalRecord

Decision = Literal["approve", "reject"]
Via = Literal["cli", "dashboard", "github"]
DECISIONS: Final = ("approve", "reject")
VIAS: Final = ("cli", "dashboard", "github")
REASON_LEN: Final = 2000


_COLUMNS: Final = "id, deployment_id, user_name, decision, reason, via, at"


def _record(row: Any) -> ApprovalRecord:
    from safeship.registry.gate_rows import ApprovalRecord

    return ApprovalRecord(
        int(row[0]), to_id(row[1]), row[2], row[3], row[4], row[5], to_time(row[6])
    )


class ApprovalRecords(Repository):
    """Record an answer; read a deployment's answers."""

    def add_approval(
        self,
        deployment_id: str,
        user: str,
        decision: Decision,
        reason: str | None,
        via: Via,
    ) -> bool:
        """Record ``user``'s answer; False when they had answered this deployment already
        (nothing is written then: a second answer acts once)."""
        check_text("user", user, PERSON_LEN)
        check_text("reason", reason, REASON_LEN, required=False)
        if decision not in DECISIONS:
            raise RegistryError(f"decision must be one of {', '.join(DECISIONS)}")
        if via not in VIAS:
            raise RegistryError(f"via must be one of {', '.join(VIAS)}")
        now = self._now()
        with self._writing("record an approval") as tx:
            return bool(
                tx.run(
                    "INSERT INTO approvals (deployment_id, user_name, decision, reason, via, at) "
                    "VALUES (:deployment_id, :user, :decision, :reason, :via, :now) "
                    "ON CONFLICT (deployment_id, user_name) DO NOTHING",
                    {
                        "deployment_id": db_id(deployment_id),
                        "user": user,
                        "decision": decision,
                        "reason": reason,
                        "via": via,
                        "now": db_time(tx, now),
                    },
                )
            )

    def approvals(self, deployment_id: str) -> list[ApprovalRecord]:
        """A deployment's answers, oldest first."""
        with self._reading("read a deployment's approvals") as tx:
            rows = tx.rows(
                f"SELECT {_COLUMNS} FROM approvals WHERE deployment_id = :deployment_id "
                "ORDER BY at, id",
                {"deployment_id": db_id(deployment_id)},
            )
        return [_record(row) for row in rows]
