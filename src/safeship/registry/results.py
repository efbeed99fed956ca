"""Verification results repository: a deployment's step results (the canary judge's figures
per traffic step) and check results (each health check at verification)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, fields
from datetime import datetime
from typing import Any, Final

from safeship.registry.errors import RegistryError, check_count, check_finite, check_text
from safeship.registry.records import CHECK_NAME_LEN, VERDICT_LEN, CheckResultRecord, StepResult
from safeship.registry.sql import Tx, db_id, db_time, to_id, to_time

_STEP_FIELDS: Final = tuple(f.name for f in fields(StepResult) if f.name != "created_at")
_CHECK_FIELDS: Final = ("level", "name", "status", "duration_ms", "detail", "critical")


_STEP_FIGURES: Final = (
    "score",
    "canary_error_rate",
    "stable_error_rate",
    "error_p_value",
    "canary_latency_ms",
    "stable_latency_ms",
    "latency_ratio",
)
_STEP_COUNTS: Final = ("canary_requests", "canary_errors", "stable_requests", "stable_errors")
CHECK_STATUSES: Final = ("ok", "degraded", "failed")


def check_step(result: StepResult) -> None:
    if not 0 <= result.weight <= 100:
        raise RegistryError(f"weight must be a percentage 0-100, got {result.weight}")
    check_count("step_index", result.step_index)
    check_text("verdict", result.verdict, VERDICT_LEN)
    check_text("reason", result.reason, None, required=False)
    check_text("error_verdict", result.error_verdict, VERDICT_LEN, required=False)
    check_text("latency_verdict", result.latency_verdict, VERDICT_LEN, required=False)
    for name in _STEP_FIGURES:
        check_finite(name, getattr(result, name))
    for name in _STEP_COUNTS:
        check_count(name, getattr(result, name))


def check_checks(results: Sequence[CheckResultRecord]) -> None:
    for result in results:
        check_text("check name", result.name, CHECK_NAME_LEN)
        check_text("check detail", result.detail, None, required=False)
        if result.status not in CHECK_STATUSES:
            raise RegistryError(f"check {result.name}: unknown status {result.status!r}")
        check_finite("duration_ms", result.duration_ms)


def insert_step(tx: Tx, deployment_id: str, result: StepResult, created_at: datetime) -> None:
    """Record a step's figures; they replace the ones recorded before for the same step (the
    judge's figures are written now and then while a step bakes: one row per step)."""
    tx.run(
        "DELETE FROM step_results WHERE deployment_id = :id AND step_index = :step_index",
        {"id": db_id(deployment_id), "step_index": result.step_index},
    )
    values = {name: value for name, value in asdict(result).items() if name in _STEP_FIELDS}
    columns = ", ".join(_STEP_FIELDS)
    marks = ", ".join(f":{name}" for name in _STEP_FIELDS)
    tx.run(
        f"INSERT INTO step_results (deployment_id, {columns}, created_at) "
        f"VALUES (:deployment_id, {marks}, :created_at)",
        {**values, "deployment_id": db_id(deployment_id), "created_at": db_time(tx, created_at)},
    )


def steps(tx: Tx, deployment_id: str) -> list[StepResult]:
    """In the order they were recorded."""
    rows = tx.rows(
        f"SELECT {', '.join(_STEP_FIELDS)}, created_at FROM step_results "
        "WHERE deployment_id = :id ORDER BY step_index, id",
        {"id": db_id(deployment_id)},
    )
    return [
        StepResult(**dict(zip(_STEP_FIELDS, row[:-1], strict=True)), created_at=to_time(row[-1]))
        for row in rows
    ]


def steps_of(tx: Tx, deployment_ids: Sequence[str]) -> dict[str, list[StepResult]]:
    """The step results of several deployments (by id), each in step order: one query."""
    if not deployment_ids:
        return {}
    marks = ", ".join(f":d{n}" for n in range(len(deployment_ids)))
    rows = tx.rows(
        f"SELECT deployment_id, {', '.join(_STEP_FIELDS)}, created_at FROM step_results "
        f"WHERE deployment_id IN ({marks}) ORDER BY step_index, id",
        {f"d{n}": db_id(d) for n, d in enumerate(deployment_ids)},
    )
    found: dict[str, list[StepResult]] = {}
    for row in rows:
        fields_ = dict(zip(_STEP_FIELDS, row[1:-1], strict=True))
        found.setdefault(to_id(row[0]), []).append(
            StepResult(**fields_, created_at=to_time(row[-1]))
        )
    return found


def insert_checks(
    tx: Tx, deployment_id: str, results: Sequence[CheckResultRecord], created_at: datetime
) -> None:
    for result in results:
        tx.run(
            "INSERT INTO check_results (deployment_id, level, name, status, ok, critical, "
            "duration_ms, detail, created_at) VALUES (:deployment_id, :level, :name, :status, "
            ":ok, :critical, :duration_ms, :detail, :created_at)",
            {
                "deployment_id": db_id(deployment_id),
                "level": result.level,
                "name": result.name,
                "status": result.status,
                "ok": result.ok,
                "critical": result.critical,
                "duration_ms": float(result.duration_ms),
                "detail": result.detail,
                "created_at": db_time(tx, created_at),
            },
        )


def checks_of(tx: Tx, deployment_ids: Sequence[str]) -> dict[str, list[CheckResultRecord]]:
    """The check results of several deployments (by id), each in the order they ran."""
    if not deployment_ids:
        return {}
    marks = ", ".join(f":d{n}" for n in range(len(deployment_ids)))
    rows = tx.rows(
        f"SELECT deployment_id, {', '.join(_CHECK_FIELDS)}, created_at FROM check_results "
        f"WHERE deployment_id IN ({marks}) ORDER BY id",
        {f"d{n}": db_id(d) for n, d in enumerate(deployment_ids)},
    )
    found: dict[str, list[CheckResultRecord]] = {}
    for row in rows:
        found.setdefault(to_id(row[0]), []).append(_check(row[1:]))
    return found


def checks(tx: Tx, deployment_id: str) -> list[CheckResultRecord]:
    """In the order they were recorded."""
    rows = tx.rows(
        f"SELECT {', '.join(_CHECK_FIELDS)}, created_at FROM check_results "
        "WHERE deployment_id = :id ORDER BY id",
        {"id": db_id(deployment_id)},
    )
    return [_check(row) for row in rows]


def _check(row: Sequence[Any]) -> CheckResultRecord:
    return CheckResultRecord(
        level=int(row[0]),
        name=row[1],
        status=row[2],
        duration_ms=float(row[3]),
        detail=row[4],
        critical=bool(row[5]),
        created_at=to_time(row[6]),
    )
