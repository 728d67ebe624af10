"""web accesses: who looked at or acted on which user's data, through the web service

One row per request that reads or changes a user's data (their explanation, vouchers,
proof, audit trail), whoever made it: the user themself, operations or an auditor. The
ops console shows a user's rows in their audit trail. Append-only by convention: the
service only inserts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 07:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_accesses",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(always=False),
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=30), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("target", sa.Text(), nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_web_accesses_user", "web_accesses", ["user_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_web_accesses_user", table_name="web_accesses")
    op.drop_table("web_accesses")
