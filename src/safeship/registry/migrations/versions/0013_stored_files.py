"""The artifact file store's index (``stored_files``): backups and other files kept in a local
directory or at an fsspec URL, with their checksums.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "stored_files",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("environment", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("deployment_id", sa.Uuid(as_uuid=False), nullable=True),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_stored_files_deployment_id_deployments"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stored_files")),
    )
    op.create_index(
        "ix_stored_files_kind_environment",
        "stored_files",
        ["kind", "environment", "created_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_stored_files_deployment_id"), "stored_files", ["deployment_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_stored_files_deployment_id"), table_name="stored_files")
    op.drop_index("ix_stored_files_kind_environment", table_name="stored_files")
    op.drop_table("stored_files")
