"""The alerts outbox (``notifications``) and the firing conditions (``alert_states``).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("channel", sa.String(length=100), nullable=False),
        sa.Column("fallbacks", sa.JSON(), nullable=False),
        sa.Column("environment", sa.String(length=100), nullable=False),
        sa.Column("condition", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("alert", sa.JSON(), nullable=False),
        sa.Column("group_key", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _TIME, nullable=False),
        sa.Column("claimed_by", sa.String(length=255), nullable=True),
        sa.Column("claimed_until", _TIME, nullable=True),
        sa.Column("delivered_at", _TIME, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'failed', 'dropped')",
            name=op.f("ck_notifications_notification_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    op.create_index(
        "ix_notifications_status_group_key_created_at",
        "notifications",
        ["status", "group_key", "created_at"],
    )
    op.create_table(
        "alert_states",
        sa.Column("environment", sa.String(length=100), nullable=False),
        sa.Column("condition", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("firing_since", _TIME, nullable=False),
        sa.Column("last_notified", _TIME, nullable=False),
        sa.Column("deployment_id", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column("deliveries", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("environment", "condition", name=op.f("pk_alert_states")),
    )


def downgrade() -> None:
    op.drop_table("alert_states")
    op.drop_index("ix_notifications_status_group_key_created_at", table_name="notifications")
    op.drop_table("notifications")
