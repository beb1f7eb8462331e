"""service_codes: dynamic service codes issued (nonce, lifetime) and their single online use

Revision ID: 0006_service_codes
Revises: 0005_status_lists
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_service_codes"
down_revision = "0005_status_lists"
branch_labels = None
depends_on = None

UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "service_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("licence_id", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("issued_at", UTC, nullable=False),
        sa.Column("expires_at", UTC, nullable=False),
        sa.Column("used_at", UTC, nullable=True),
        sa.Column("used_by", sa.String(200), nullable=True),
        sa.Column("purpose", sa.String(200), nullable=True),
        sa.ForeignKeyConstraint(["licence_id"], ["licences.id"], name="fk_service_codes_licence_id_licences"),
        sa.PrimaryKeyConstraint("id", name="pk_service_codes"),
        sa.UniqueConstraint("nonce", name="uq_service_codes_nonce"),
    )


def downgrade() -> None:
    op.drop_table("service_codes")
