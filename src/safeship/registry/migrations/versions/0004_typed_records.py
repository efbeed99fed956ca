"""Typed records: deployments gain path, strategy, rollback_rule and gate_verdict; manual
requests, step results, check results and baselines get tables of their own. The data the
metadata bag held under those keys is copied into them; the bag itself stays until its readers
use the typed fields (a later revision drops it).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# This revision's own view of the tables (revisions must not import the models, which change).
_UUID = sa.Uuid(as_uuid=False)
_TIME = sa.DateTime(timezone=True)
_deployments = sa.table(
    "deployments",
    sa.column("id", _UUID),
    sa.column("environment", sa.String),
    sa.column("version", sa.String),
    sa.column("status", sa.String),
    sa.column("started_at", _TIME),
    sa.column("completed_at", _TIME),
    sa.column("deployment_metadata", sa.JSON),
    sa.column("path", sa.String),
    sa.column("strategy", sa.String),
    sa.column("rollback_rule", sa.String),
    sa.column("gate_verdict", sa.String),
)
_TERMINAL = ("succeeded", "failed", "rolled_back", "aborted")


def _deployment_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["deployment_id"],
        ["deployments.id"],
        name=op.f(f"fk_{table}_deployment_id_deployments"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    # Plain ADD COLUMNs: on SQLite a batch rebuild of deployments would drop the table, and
    # with foreign keys on that cascades into events.
    op.add_column("deployments", sa.Column("path", sa.String(length=100), nullable=True))
    op.add_column("deployments", sa.Column("strategy", sa.String(length=32), nullable=True))
    op.add_column("deployments", sa.Column("rollback_rule", sa.String(length=64), nullable=True))
    op.add_column("deployments", sa.Column("gate_verdict", sa.String(length=32), nullable=True))
    requests = op.create_table(
        "deployment_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("deployment_id", _UUID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("handled_at", _TIME, nullable=True),
        _deployment_fk("deployment_requests"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment_requests")),
    )
    op.create_index(
        op.f("ix_deployment_requests_deployment_id"), "deployment_requests", ["deployment_id"]
    )
    figures = [
        sa.Column(name, sa.Float(), nullable=True)
        for name in (
            "score",
            "canary_error_rate",
            "stable_error_rate",
            "error_p_value",
            "canary_latency_ms",
            "stable_latency_ms",
            "latency_ratio",
        )
    ]
    counts = [
        sa.Column(name, sa.Integer(), nullable=True)
        for name in ("canary_requests", "canary_errors", "stable_requests", "stable_errors")
    ]
    steps = op.create_table(
        "step_results",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("deployment_id", _UUID, nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("verdict", sa.String(length=32), nullable=False),
        figures[0],
        sa.Column("reason", sa.Text(), nullable=True),
        *figures[1:],
        *counts,
        sa.Column("created_at", _TIME, nullable=False),
        _deployment_fk("step_results"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_step_results")),
    )
    op.create_index(op.f("ix_step_results_deployment_id"), "step_results", ["deployment_id"])
    checks = op.create_table(
        "check_results",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("deployment_id", _UUID, nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("critical", sa.Boolean(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        _deployment_fk("check_results"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_check_results")),
    )
    op.create_index(op.f("ix_check_results_deployment_id"), "check_results", ["deployment_id"])
    baselines = op.create_table(
        "baselines",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("environment", sa.String(length=100), nullable=False),
        sa.Column("version", sa.String(length=255), nullable=False),
        sa.Column("deployment_id", _UUID, nullable=True),
        sa.Column("path", sa.String(length=255), nullable=False),
        sa.Column("sample_count", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("error_rate", sa.Float(), nullable=False),
        sa.Column("mean_ms", sa.Float(), nullable=True),
        sa.Column("p50_ms", sa.Float(), nullable=True),
        sa.Column("p95_ms", sa.Float(), nullable=True),
        sa.Column("p99_ms", sa.Float(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("cpu_percent", sa.Float(), nullable=True),
        sa.Column("rss_mb", sa.Float(), nullable=True),
        sa.Column("compared_with", sa.String(length=255), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_baselines_deployment_id_deployments"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_baselines")),
    )
    op.create_index(
        "ix_baselines_environment_version_created_at",
        "baselines",
        ["environment", "version", "created_at"],
    )
    _move_metadata(requests, steps, checks, baselines)


def downgrade() -> None:
    op.drop_index("ix_baselines_environment_version_created_at", table_name="baselines")
    op.drop_table("baselines")
    op.drop_index(op.f("ix_check_results_deployment_id"), table_name="check_results")
    op.drop_table("check_results")
    op.drop_index(op.f("ix_step_results_deployment_id"), table_name="step_results")
    op.drop_table("step_results")
    op.drop_index(op.f("ix_deployment_requests_deployment_id"), table_name="deployment_requests")
    op.drop_table("deployment_requests")
    # Plain DROP COLUMN (SQLite >= 3.35), for the reason given in upgrade().
    for column in ("gate_verdict", "rollback_rule", "strategy", "path"):
        op.execute(f"ALTER TABLE deployments DROP COLUMN {column}")


# -- moving the metadata bag's known keys -----------------------------------------------------


def _move_metadata(
    requests: sa.Table, steps: sa.Table, checks: sa.Table, baselines: sa.Table
) -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(
            _deployments.c.id,
            _deployments.c.environment,
            _deployments.c.version,
            _deployments.c.status,
            _deployments.c.started_at,
            _deployments.c.completed_at,
            _deployments.c.deployment_metadata,
        )
    ).all()
    for row in rows:
        bag = row.deployment_metadata if isinstance(row.deployment_metadata, Mapping) else {}
        # When the deployment ended (or, still running, when it started): the best time the
        # bag knows for what it recorded.
        when = row.completed_at or row.started_at
        typed = _typed_columns(bag)
        if typed:
            bind.execute(_deployments.update().where(_deployments.c.id == row.id).values(**typed))
        request = _request(bag, row.id, row.status, when)
        if request:
            bind.execute(requests.insert().values(**request))
        step = _step(bag, row.id, when)
        if step:
            bind.execute(steps.insert().values(**step))
        for check in _checks(bag, row.id, row.started_at):
            bind.execute(checks.insert().values(**check))
        baseline = _baseline(bag, row.id, row.environment, row.version, when)
        if baseline:
            bind.execute(baselines.insert().values(**baseline))


def _text(value: object, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _count(value: object) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _typed_columns(bag: Mapping[str, Any]) -> dict[str, str]:
    typed = {
        "path": _text(bag.get("path"), 100),
        "strategy": _text(bag.get("strategy"), 32),
        "rollback_rule": _text(_get(bag, "rollback", "rule"), 64),
        "gate_verdict": _text(_get(bag, "prepush", "gate"), 32),
    }
    return {name: value for name, value in typed.items() if value is not None}


def _get(bag: Mapping[str, Any], key: str, field: str) -> object:
    inner = bag.get(key)
    return inner.get(field) if isinstance(inner, Mapping) else None


def _request(
    bag: Mapping[str, Any], deployment_id: str, status: str, when: datetime
) -> dict[str, Any] | None:
    kind = bag.get("request")
    if kind not in ("abort", "promote", "rollback", "pause", "resume"):
        return None
    by = bag.get("requested_by")
    return {
        "deployment_id": deployment_id,
        "kind": kind,
        # requested_by held the command that asked ("rollback" for `safeship rollback`).
        "requested_by": f"safeship {by}" if isinstance(by, str) and by else f"safeship {kind}",
        "reason": None,
        "created_at": when,
        # A request left on a finished deployment was acted on (or can no longer be).
        "handled_at": when if status in _TERMINAL else None,
    }


def _step(bag: Mapping[str, Any], deployment_id: str, when: datetime) -> dict[str, Any] | None:
    analysis = bag.get("analysis")
    if not isinstance(analysis, Mapping):
        return None
    metrics = {m.get("name"): m for m in analysis.get("metrics") or () if isinstance(m, Mapping)}
    errors = metrics.get("error_rate") or metrics.get("errors") or {}
    latency = metrics.get("latency") or {}
    traffic = bag.get("traffic")
    canary, stable = _traffic_sides(traffic if isinstance(traffic, Mapping) else {}, bag)
    return {
        "deployment_id": deployment_id,
        "step_index": 0,  # the bag kept only the latest step's figures
        "weight": _count(analysis.get("step")) or 0,
        "verdict": _text(analysis.get("decision"), 32) or "unknown",
        "score": _number(analysis.get("score")),
        "reason": analysis.get("reason") if isinstance(analysis.get("reason"), str) else None,
        "canary_error_rate": _number(errors.get("canary")),
        "stable_error_rate": _number(errors.get("stable")),
        "error_p_value": _number(errors.get("p_high")),
        "canary_latency_ms": _number(latency.get("canary")),
        "stable_latency_ms": _number(latency.get("stable")),
        "latency_ratio": _number(latency.get("effect")),
        "canary_requests": _count(canary.get("requests")),
        "canary_errors": _count(canary.get("errors")),
        "stable_requests": _count(stable.get("requests")),
        "stable_errors": _count(stable.get("errors")),
        "created_at": when,
    }


def _traffic_sides(
    traffic: Mapping[str, Any], bag: Mapping[str, Any]
) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """The canary's and the stable release's counts in ``traffic`` ({version: counts})."""
    stable_version = bag.get("stable_version")
    stable = traffic.get(stable_version) if isinstance(stable_version, str) else None
    others = [v for k, v in traffic.items() if k != stable_version and isinstance(v, Mapping)]
    canary = others[0] if len(others) == 1 else {}
    return canary, stable if isinstance(stable, Mapping) else {}


def _checks(bag: Mapping[str, Any], deployment_id: str, when: datetime) -> Iterator[dict[str, Any]]:
    for check in bag.get("checks") or ():
        if not isinstance(check, Mapping) or not isinstance(check.get("name"), str):
            continue
        status = check.get("status") if check.get("status") in ("ok", "degraded") else "failed"
        yield {
            "deployment_id": deployment_id,
            "level": _count(check.get("level")) or 1,
            "name": check["name"][:100],
            "status": status,
            "ok": status == "ok",
            "critical": check.get("critical") is not False,
            "duration_ms": _number(check.get("latency_ms")) or 0.0,
            "detail": check.get("detail") if isinstance(check.get("detail"), str) else "",
            "created_at": when,
        }


def _baseline(
    bag: Mapping[str, Any], deployment_id: str, environment: str, version: str, when: datetime
) -> dict[str, Any] | None:
    baseline = bag.get("baseline")
    if not isinstance(baseline, Mapping) or not isinstance(baseline.get("path"), str):
        return None
    requests = _count(baseline.get("requests")) or 0
    errors = _count(baseline.get("errors")) or 0
    compared = baseline.get("compared_with")
    return {
        "environment": environment,
        "version": version,
        "deployment_id": deployment_id,
        "path": baseline["path"][:255],
        "sample_count": requests,
        "errors": errors,
        "error_rate": errors / requests if requests else 0.0,
        "mean_ms": _number(baseline.get("mean_ms")),
        "p50_ms": _number(baseline.get("p50_ms")),
        "p95_ms": _number(baseline.get("p95_ms")),
        "p99_ms": _number(baseline.get("p99_ms")),
        "duration_s": _number(baseline.get("duration_s")),
        "cpu_percent": _number(baseline.get("cpu_percent")),
        "rss_mb": _number(baseline.get("rss_mb")),
        "compared_with": compared[:255] if isinstance(compared, str) and compared else None,
        "created_at": when,
    }
