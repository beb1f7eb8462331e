"""seals: departments' GB/T 38540 electronic seals

Revision ID: 0002_seals
Revises: 0001_initial
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_seals"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "seals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("esid", sa.String(32), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("seal_type", sa.Integer(), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("valid_start", UTC, nullable=False),
        sa.Column("valid_end", UTC, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["department_id"], ["departments.id"], name="fk_seals_department_id_departments"),
        sa.PrimaryKeyConstraint("id", name="pk_seals"),
        sa.UniqueConstraint("esid", name="uq_seals_esid"),
        sa.UniqueConstraint("sha256", name="uq_seals_sha256"),
    )
    op.create_index("ix_seals_department_id", "seals", ["department_id"])


def downgrade() -> None:
    op.drop_index("ix_seals_department_id", table_name="seals")
    op.drop_table("seals")
