"""audit checkpoints: signed statements of the audit chain's hash at a row

``trustsvc audit checkpoint`` time-stamps the chain head with the region TSA; ``trustsvc audit
verify --since-checkpoint`` then checks from the newest valid checkpoint on, so a daily check
does not rehash years of history.

Revision ID: 0015_audit_checkpoints
Revises: 0014_dashboard_aggregates
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_audit_checkpoints"
down_revision = "0014_dashboard_aggregates"
branch_labels = None
depends_on = None

UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("token", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_checkpoints"),
    )
    op.create_index("ix_audit_checkpoints_seq", "audit_checkpoints", ["seq"])


def downgrade() -> None:
    op.drop_index("ix_audit_checkpoints_seq", table_name="audit_checkpoints")
    op.drop_table("audit_checkpoints")
