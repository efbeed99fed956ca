"""Gate results repository: each gate's run before a deployment's release started, written
when it starts (outcome NULL) and finished with its verdict. ``Registry`` inherits the methods
(see ``store``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from safeship.registry.errors import check_text, json_object
from safeship.registry.repository import Repository
from safeship.registry.sql import (
    db_id,
    db_json,
    db_time,
    to_id,
    to_json,
    to_optional_time,
    to_time,
)

if TYPE_CHECKING:
    from safeship.registry.gate_rows import GateResult

GATE_LEN = 64
OUTCOME_LEN = 32
REASON_LEN = 4000


_COLUMNS = "id, deployment_id, gate, outcome, reason, figures, started_at, finished_at"


def _result(row: Any) -> GateResult:
    from safeship.registry.gate_rows import GateResult

    figures = to_json(row[5])
    return GateResult(
        int(row[0]),
        to_id(row[1]),
        row[2],
        row[3],
        row[4],
        figures if isinstance(figures, dict) else {},
        to_time(row[6]),
        to_optional_time(row[7]),
    )


class GateResultRecords(Repository):
    """Start and finish a gate's row; read a deployment's gates."""

    def start_gate(self, deployment_id: str, gate: str) -> int:
        """The gate's row, running (written before the gate acts: write-ahead); its id."""
        check_text("gate", gate, GATE_LEN)
        now = self._now()
        with self._writing("record a gate") as tx:
            tx.run(
                "INSERT INTO gate_results (deployment_id, gate, outcome, reason, figures, "
                "started_at, finished_at) VALUES (:deployment_id, :gate, NULL, NULL, :figures, "
                ":now, NULL)",
                {
                    "deployment_id": db_id(deployment_id),
                    "gate": gate,
                    "figures": db_json({}),
                    "now": db_time(tx, now),
                },
            )
            rows = tx.rows(
                "SELECT max(id) FROM gate_results WHERE deployment_id = :deployment_id "
                "AND gate = :gate",
                {"deployment_id": db_id(deployment_id), "gate": gate},
            )
            return int(rows[0][0])

    def finish_gate(
        self,
        gate_result_id: int,
        outcome: str,
        reason: str | None = None,
        figures: Mapping[str, Any] | None = None,
    ) -> None:
        check_text("outcome", outcome, OUTCOME_LEN)
        check_text("reason", reason, REASON_LEN, required=False)
        values = json_object("figures", figures)
        now = self._now()
        with self._writing("finish a gate") as tx:
            tx.run(
                "UPDATE gate_results SET outcome = :outcome, reason = :reason, "
                "figures = :figures, finished_at = :now WHERE id = :id",
                {
                    "id": gate_result_id,
                    "outcome": outcome,
                    "reason": reason,
                    "figures": db_json(values),
                    "now": db_time(tx, now),
                },
            )

    def gate_results(self, deployment_id: str) -> list[GateResult]:
        """A deployment's gates in the order they ran."""
        with self._reading("read a deployment's gates") as tx:
            rows = tx.rows(
                f"SELECT {_COLUMNS} FROM gate_results WHERE deployment_id = :deployment_id "
                "ORDER BY id",
                {"deployment_id": db_id(deployment_id)},
            )
        return [_result(row) for row in rows]
