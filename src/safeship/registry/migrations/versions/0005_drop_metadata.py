"""The metadata bag is gone: deployments gain ``stable_version``, ``paused_at`` and ``notes``
(the free-form remainder: who ran an emergency deploy from where, a release's port and pid),
step results gain the judge's verdict per metric, a finished deployment's traffic totals become
its final step result, and the ``deployment_metadata`` column is dropped.

Every column is added and dropped with a plain ALTER TABLE (SQLite >= 3.35 drops a column in
place): a batch rebuild of ``deployments`` would drop the table, and with foreign keys on that
cascades into events. No table is rebuilt, so events and env snapshots are untouched.

Downgrade restores the bag from the typed data with the keys the 0004 code read (``path``,
``strategy``, ``stable_version``, ``rollback.rule``, ``prepush.gate``, ``paused_at``, a pending
``request``, ``traffic``, the latest ``analysis``, ``checks`` and ``baseline``); the figures
of a rollback and a check's HTTP status were never kept in the typed records and stay empty.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UUID = sa.Uuid(as_uuid=False)
_TIME = sa.DateTime(timezone=True)
_deployments = sa.table(
    "deployments",
    sa.column("id", _UUID),
    sa.column("version", sa.String),
    sa.column("status", sa.String),
    sa.column("started_at", _TIME),
    sa.column("completed_at", _TIME),
    sa.column("deployment_metadata", sa.JSON),
    sa.column("path", sa.String),
    sa.column("strategy", sa.String),
    sa.column("rollback_rule", sa.String),
    sa.column("gate_verdict", sa.String),
    sa.column("stable_version", sa.String),
    sa.column("paused_at", sa.Integer),
    sa.column("notes", sa.Text),
)
_COUNTS = ("canary_requests", "canary_errors", "stable_requests", "stable_errors")
_steps = sa.table(
    "step_results",
    sa.column("id", sa.Integer),
    sa.column("deployment_id", _UUID),
    sa.column("step_index", sa.Integer),
    sa.column("weight", sa.Integer),
    sa.column("verdict", sa.String),
    sa.column("score", sa.Float),
    sa.column("reason", sa.Text),
    sa.column("canary_error_rate", sa.Float),
    sa.column("stable_error_rate", sa.Float),
    sa.column("error_p_value", sa.Float),
    sa.column("canary_latency_ms", sa.Float),
    sa.column("stable_latency_ms", sa.Float),
    *(sa.column(name, sa.Integer) for name in _COUNTS),
    sa.column("error_verdict", sa.String),
    sa.column("latency_verdict", sa.String),
    sa.column("created_at", _TIME),
)
_requests = sa.table(
    "deployment_requests",
    sa.column("deployment_id", _UUID),
    sa.column("kind", sa.String),
    sa.column("requested_by", sa.String),
    sa.column("created_at", _TIME),
    sa.column("handled_at", _TIME),
)
_checks = sa.table(
    "check_results",
    sa.column("id", sa.Integer),
    sa.column("deployment_id", _UUID),
    sa.column("level", sa.Integer),
    sa.column("name", sa.String),
    sa.column("status", sa.String),
    sa.column("critical", sa.Boolean),
    sa.column("duration_ms", sa.Float),
    sa.column("detail", sa.Text),
)
_baselines = sa.table(
    "baselines",
    sa.column("id", sa.Integer),
    sa.column("deployment_id", _UUID),
    sa.column("path", sa.String),
    sa.column("sample_count", sa.Integer),
    sa.column("errors", sa.Integer),
    sa.column("mean_ms", sa.Float),
    sa.column("p50_ms", sa.Float),
    sa.column("p95_ms", sa.Float),
    sa.column("p99_ms", sa.Float),
    sa.column("duration_s", sa.Float),
    sa.column("cpu_percent", sa.Float),
    sa.column("rss_mb", sa.Float),
    sa.column("compared_with", sa.String),
)
# What the bag held that 0004 moved, or that this revision moves (everything else: notes).
_MOVED = {
    "path",
    "strategy",
    "rollback",
    "prepush",
    "request",
    "requested_by",
    "paused_at",
    "analysis",
    "traffic",
    "checks",
    "baseline",
    "stable_version",
}
_FINAL = {"succeeded": "promoted", "rolled_back": "rolled_back"}
_TERMINAL = ("succeeded", "failed", "rolled_back", "aborted")


def upgrade() -> None:
    op.add_column("deployments", sa.Column("stable_version", sa.String(255), nullable=True))
    op.add_column("deployments", sa.Column("paused_at", sa.Integer(), nullable=True))
    op.add_column("deployments", sa.Column("notes", sa.Text(), nullable=True))
    op.add_column("step_results", sa.Column("error_verdict", sa.String(32), nullable=True))
    op.add_column("step_results", sa.Column("latency_verdict", sa.String(32), nullable=True))
    _move_rest()
    op.execute("ALTER TABLE deployments DROP COLUMN deployment_metadata")


def downgrade() -> None:
    op.add_column(
        "deployments",
        sa.Column("deployment_metadata", sa.JSON(), nullable=False, server_default="{}"),
    )
    _restore_bag()
    op.execute(sa.delete(_steps).where(_steps.c.verdict.in_(list(_FINAL.values()))))
    for table, column in (
        ("step_results", "latency_verdict"),
        ("step_results", "error_verdict"),
        ("deployments", "notes"),
        ("deployments", "paused_at"),
        ("deployments", "stable_version"),
    ):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")


# -- upgrade: the rest of the bag --------------------------------------------------------------


def _move_rest() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(
            _deployments.c.id,
            _deployments.c.version,
            _deployments.c.status,
            _deployments.c.started_at,
            _deployments.c.completed_at,
            _deployments.c.deployment_metadata,
        )
    ).all()
    for row in rows:
        bag = row.deployment_metadata if isinstance(row.deployment_metadata, Mapping) else {}
        stable = bag.get("stable_version")
        paused = bag.get("paused_at")
        values: dict[str, Any] = {
            "stable_version": stable[:255] if isinstance(stable, str) and stable else None,
            "paused_at": paused
            if isinstance(paused, int) and paused > 0 and row.status not in _TERMINAL
            else None,
            "notes": _notes(bag),
        }
        bind.execute(_deployments.update().where(_deployments.c.id == row.id).values(**values))
        _metric_verdicts(bag, row.id)
        final = _final_step(bag, row, values["stable_version"])
        if final:
            bind.execute(_steps.insert().values(**final))


def _notes(bag: Mapping[str, Any]) -> str | None:
    """The keys no column took, one ``key: value`` line each (e.g. ``operator: carol@host``)."""
    lines = []
    for key in sorted(set(bag) - _MOVED):
        value = bag[key]
        if value is None or value == "":
            continue
        if isinstance(value, Mapping):
            value = ", ".join(f"{k} {v}" for k, v in sorted(value.items()))
        lines.append(f"{key}: {value}")
    return "\n".join(lines) or None


def _metric_verdicts(bag: Mapping[str, Any], deployment_id: str) -> None:
    analysis = bag.get("analysis")
    if not isinstance(analysis, Mapping):
        return
    verdicts: dict[str, str] = {}
    for metric in analysis.get("metrics") or ():
        if isinstance(metric, Mapping) and isinstance(metric.get("verdict"), str):
            column = "latency_verdict" if metric.get("name") == "latency" else "error_verdict"
            verdicts[column] = metric["verdict"][:32]
    if verdicts:
        op.get_bind().execute(
            _steps.update()
            .where(_steps.c.deployment_id == deployment_id, _steps.c.step_index == 0)
            .values(**verdicts)
        )


def _final_step(bag: Mapping[str, Any], row: Any, stable: str | None) -> dict[str, Any] | None:
    traffic = bag.get("traffic")
    verdict = _FINAL.get(row.status)
    if not isinstance(traffic, Mapping) or verdict is None:
        return None
    mine = traffic.get(row.version)
    theirs = traffic.get(stable) if stable else None
    mine = mine if isinstance(mine, Mapping) else {}
    theirs = theirs if isinstance(theirs, Mapping) else {}
    bind = op.get_bind()
    last = bind.execute(
        sa.select(sa.func.max(_steps.c.step_index)).where(_steps.c.deployment_id == row.id)
    ).scalar()
    return {
        "deployment_id": row.id,
        "step_index": 0 if last is None else last + 1,
        "weight": 100 if verdict == "promoted" else 0,
        "verdict": verdict,
        "canary_requests": _count(mine.get("requests")),
        "canary_errors": _count(mine.get("errors")),
        "stable_requests": _count(theirs.get("requests")),
        "stable_errors": _count(theirs.get("errors")),
        "created_at": row.completed_at or row.started_at,
    }


def _count(value: object) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


# -- downgrade: the bag from the typed data ----------------------------------------------------


def _restore_bag() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(
            _deployments.c.id,
            _deployments.c.version,
            _deployments.c.path,
            _deployments.c.strategy,
            _deployments.c.rollback_rule,
            _deployments.c.gate_verdict,
            _deployments.c.stable_version,
            _deployments.c.paused_at,
            _deployments.c.notes,
        )
    ).all()
    for row in rows:
        bag: dict[str, Any] = {"stable_version": row.stable_version}
        for key in ("path", "strategy", "paused_at"):
            if getattr(row, key) is not None:
                bag[key] = getattr(row, key)
        if row.rollback_rule:
            bag["rollback"] = {"rule": row.rollback_rule, "figures": {}}
        if row.gate_verdict:
            bag["prepush"] = {"gate": row.gate_verdict}
        for line in (row.notes or "").splitlines():
            key, _, value = line.partition(": ")
            bag.setdefault(key, value)
        bag.update(_restored_results(row.id, row.version, row.stable_version))
        bind.execute(
            _deployments.update().where(_deployments.c.id == row.id).values(deployment_metadata=bag)
        )


def _restored_results(deployment_id: str, version: str, stable: str | None) -> dict[str, Any]:
    bind = op.get_bind()
    restored: dict[str, Any] = {}
    request = bind.execute(
        sa.select(_requests.c.kind, _requests.c.requested_by)
        .where(_requests.c.deployment_id == deployment_id, _requests.c.handled_at.is_(None))
        .order_by(_requests.c.created_at)
        .limit(1)
    ).first()
    if request is not None:
        restored["request"] = request.kind
        restored["requested_by"] = request.requested_by.removeprefix("safeship ")
    steps = bind.execute(
        sa.select(_steps)
        .where(_steps.c.deployment_id == deployment_id)
        .order_by(_steps.c.step_index)
    ).all()
    judged = [s for s in steps if s.verdict not in _FINAL.values()]
    final = [s for s in steps if s.verdict in _FINAL.values()]
    if judged:
        step = judged[-1]
        restored["analysis"] = {
            "step": step.weight,
            "reason": step.reason,
            "score": step.score,
            "decision": step.verdict,
            "metrics": [
                {
                    "name": "error_rate",
                    "verdict": step.error_verdict,
                    "canary": step.canary_error_rate,
                    "stable": step.stable_error_rate,
                    "n_canary": step.canary_requests,
                    "n_stable": step.stable_requests,
                    "p_high": step.error_p_value,
                },
                {
                    "name": "latency",
                    "verdict": step.latency_verdict,
                    "canary": step.canary_latency_ms,
                    "stable": step.stable_latency_ms,
                    "n_canary": step.canary_requests,
                    "n_stable": step.stable_requests,
                    "p_high": None,
                },
            ],
        }
    if final:
        last = final[-1]
        traffic = {version: {"requests": last.canary_requests, "errors": last.canary_errors}}
        if stable:
            traffic[stable] = {"requests": last.stable_requests, "errors": last.stable_errors}
        restored["traffic"] = traffic
    checks = bind.execute(
        sa.select(_checks).where(_checks.c.deployment_id == deployment_id).order_by(_checks.c.id)
    ).all()
    if checks:
        restored["checks"] = [
            {
                "name": c.name,
                "level": c.level,
                "status": c.status,
                "critical": c.critical,
                "latency_ms": c.duration_ms,
                "detail": c.detail,
            }
            for c in checks
        ]
    baseline = bind.execute(
        sa.select(_baselines)
        .where(_baselines.c.deployment_id == deployment_id)
        .order_by(_baselines.c.id.desc())
        .limit(1)
    ).first()
    if baseline is not None:
        restored["baseline"] = {
            "path": baseline.path,
            "requests": baseline.sample_count,
            "errors": baseline.errors,
            "mean_ms": baseline.mean_ms,
            "p50_ms": baseline.p50_ms,
            "p95_ms": baseline.p95_ms,
            "p99_ms": baseline.p99_ms,
            "duration_s": baseline.duration_s,
            "cpu_percent": baseline.cpu_percent,
            "rss_mb": baseline.rss_mb,
            "compared_with": baseline.compared_with,
        }
    return restored
