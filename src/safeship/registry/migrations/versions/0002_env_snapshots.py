"""Environment snapshots: an environment's variables (secrets as fingerprints only) over time.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "env_snapshots",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("environment", sa.String(length=100), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("taken_by", sa.String(length=255), nullable=False),
        sa.Column("fingerprint_key_id", sa.String(length=64), nullable=True),
        sa.Column("variables", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_env_snapshots")),
    )
    op.create_index(
        "ix_env_snapshots_environment_taken_at", "env_snapshots", ["environment", "taken_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_env_snapshots_environment_taken_at", table_name="env_snapshots")
    op.drop_table("env_snapshots")
