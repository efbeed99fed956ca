"""Analytics: marks on deployments (``deployment_marks``), the pre-push gate's runs
(``prepush_runs``), the CI runs of the deploy paths (``ci_runs``), and an index on
``deployments.started_at`` and ``events (name, timestamp)`` for the period scans.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_index("ix_deployments_started_at", "deployments", ["started_at"])
    op.create_index("ix_events_name_timestamp", "events", ["name", "timestamp"])
    op.create_table(
        "deployment_marks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("deployment_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("mark", sa.String(length=32), nullable=False),
        sa.Column("marked_by", sa.String(length=255), nullable=False),
        sa.Column("marked_at", _TIME, nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_deployment_marks_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment_marks")),
        sa.UniqueConstraint(
            "deployment_id", "mark", name=op.f("uq_deployment_marks_deployment_id")
        ),
    )
    op.create_table(
        "prepush_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ran_at", _TIME, nullable=False),
        sa.Column("repository", sa.String(length=255), nullable=False),
        sa.Column("branch", sa.String(length=255), nullable=True),
        sa.Column("commit_sha", sa.String(length=64), nullable=True),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=False),
        sa.Column("failed_checks", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "verdict IN ('passed', 'blocked')", name=op.f("ck_prepush_runs_prepush_verdict")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prepush_runs")),
    )
    op.create_index(op.f("ix_prepush_runs_ran_at"), "prepush_runs", ["ran_at"])
    op.create_table(
        "ci_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("path", sa.String(length=100), nullable=False),
        sa.Column("run_id", sa.String(length=255), nullable=False),
        sa.Column("environment", sa.String(length=100), nullable=False),
        sa.Column("version", sa.String(length=255), nullable=True),
        sa.Column("deployment_id", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column("started_at", _TIME, nullable=True),
        sa.Column("completed_at", _TIME, nullable=False),
        sa.Column("conclusion", sa.String(length=32), nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_ci_runs_deployment_id_deployments"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ci_runs")),
        sa.UniqueConstraint("path", "run_id", name=op.f("uq_ci_runs_path")),
    )
    op.create_index(
        "ix_ci_runs_environment_completed_at", "ci_runs", ["environment", "completed_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_ci_runs_environment_completed_at", table_name="ci_runs")
    op.drop_table("ci_runs")
    op.drop_index(op.f("ix_prepush_runs_ran_at"), table_name="prepush_runs")
    op.drop_table("prepush_runs")
    op.drop_table("deployment_marks")
    op.drop_index("ix_events_name_timestamp", table_name="events")
    op.drop_index("ix_deployments_started_at", table_name="deployments")
