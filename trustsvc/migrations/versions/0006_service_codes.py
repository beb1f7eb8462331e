"""service_codes: each licence version's static service code, and dynamic codes issued (nonce,
lifetime) with their single online use

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
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("nonce", sa.String(64), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("signer_sha256", sa.String(64), nullable=False),
        sa.Column("issued_at", UTC, nullable=False),
        sa.Column("expires_at", UTC, nullable=True),
        sa.Column("used_at", UTC, nullable=True),
        sa.Column("used_by", sa.String(200), nullable=True),
        sa.Column("purpose", sa.String(200), nullable=True),
        sa.ForeignKeyConstraint(["licence_id"], ["licences.id"], name="fk_service_codes_licence_id_licences"),
        sa.PrimaryKeyConstraint("id", name="pk_service_codes"),
        sa.UniqueConstraint("nonce", name="uq_service_codes_nonce"),
        sa.CheckConstraint("kind IN ('static', 'dynamic')", name="ck_service_codes_kind"),
        sa.CheckConstraint("(kind = 'static') = (nonce IS NULL)", name="ck_service_codes_nonce"),
    )
    # one static code per licence version (a partial unique index: dynamic codes are many)
    op.create_index("uq_service_codes_static", "service_codes", ["licence_id"], unique=True,
                    sqlite_where=sa.text("kind = 'static'"), postgresql_where=sa.text("kind = 'static'"))


def downgrade() -> None:
    op.drop_index("uq_service_codes_static", table_name="service_codes")
    op.drop_table("service_codes")
