"""Rollback drills (``drills``) and outage pauses of environments (``environment_pauses``).

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "drills",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("environment", sa.String(length=100), nullable=False),
        sa.Column("serving_version", sa.String(length=255), nullable=False),
        sa.Column("previous_version", sa.String(length=255), nullable=False),
        sa.Column("triggered_by", sa.String(length=255), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("legs", sa.JSON(), nullable=False),
        sa.Column("started_at", _TIME, nullable=False),
        sa.Column("finished_at", _TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drills")),
    )
    op.create_index(op.f("ix_drills_environment"), "drills", ["environment"], unique=False)
    op.create_table(
        "environment_pauses",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("environment", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("first_failed_at", _TIME, nullable=False),
        sa.Column("last_failed_at", _TIME, nullable=False),
        sa.Column("since", _TIME, nullable=True),
        sa.Column("lifted_at", _TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_environment_pauses")),
    )
    op.create_index(
        op.f("ix_environment_pauses_environment"),
        "environment_pauses",
        ["environment"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_environment_pauses_environment"), table_name="environment_pauses")
    op.drop_table("environment_pauses")
    op.drop_index(op.f("ix_drills_environment"), table_name="drills")
    op.drop_table("drills")
