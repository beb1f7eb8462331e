"""licence_files: the rendered, signed licence file (PDF now, OFD later) of each licence version

Revision ID: 0004_licence_files
Revises: 0003_licences
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_licence_files"
down_revision = "0003_licences"
branch_labels = None
depends_on = None

UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "licence_files",
        sa.Column("licence_id", sa.Integer(), nullable=False),
        sa.Column("media_type", sa.String(64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["licence_id"], ["licences.id"], name="fk_licence_files_licence_id_licences"),
        sa.PrimaryKeyConstraint("licence_id", "media_type", name="pk_licence_files"),
    )


def downgrade() -> None:
    op.drop_table("licence_files")
