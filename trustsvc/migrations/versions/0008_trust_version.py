"""trust version: one counter row, bumped with every change to trust material

Revision ID: 0008_trust_version
Revises: 0007_trust_lists
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_trust_version"
down_revision = "0007_trust_lists"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "trust_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_trust_version"),
    )
    op.bulk_insert(table, [{"id": 1, "version": 0}])


def downgrade() -> None:
    op.drop_table("trust_version")
