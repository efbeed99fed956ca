"""Joins the revisions the gates' branches added in parallel, each on 0011 (branch h-demo only).

Issue 15's helpers each wrote one migration with ``down_revision = "0011"``; h-demo merges their
branches to run their commands (the runbooks, the gates benchmark), and this empty revision
makes the heads one again. When the revisions are chained one after the other at merge time,
delete this file and set ``HEAD`` to the last of the chain.

Revision ID: 0099
Revises: 0012, 0013, 0014, 0015
Create Date: 2026-11-30
"""

from collections.abc import Sequence

revision: str = "0099"
down_revision: str | Sequence[str] | None = ("0012", "0013", "0014", "0015")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
