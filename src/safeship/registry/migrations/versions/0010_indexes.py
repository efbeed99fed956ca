"""The background jobs' claimed runs (``job_runs``), and the indexes the dashboard's reads
need at scale.

Revision ID: 0010
Revises: 0006
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"  # re-chained at merge (was 0006)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "job_runs",
        sa.Column("job", sa.String(length=64), nullable=False),
        sa.Column("run_key", sa.String(length=255), nullable=False),
        sa.Column("holder", sa.String(length=255), nullable=False),
        sa.Column("started_at", _TIME, nullable=False),
        sa.Column("finished_at", _TIME, nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("job", "run_key", name=op.f("pk_job_runs")),
    )
    # At 100,000 deployments the history of every environment sorted the whole table (0.1 s
    # on PostgreSQL), and the running deployments of one scanned it.
    op.create_index("ix_deployments_started_at_id", "deployments", ["started_at", "id"])
    op.create_index("ix_deployments_environment_status", "deployments", ["environment", "status"])


def downgrade() -> None:
    op.drop_index("ix_deployments_environment_status", table_name="deployments")
    op.drop_index("ix_deployments_started_at_id", table_name="deployments")
    op.drop_table("job_runs")
