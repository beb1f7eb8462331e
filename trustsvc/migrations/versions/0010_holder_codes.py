"""holder codes: each licence version's MSO (salted field digests signed by its department),
presentations with their single use, holder codes, consents and the record of every use

Revision ID: 0010_holder_codes
Revises: 0009_licence_type_versions
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_holder_codes"
down_revision = "0009_licence_type_versions"
branch_labels = None
depends_on = None

UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "licence_msos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("licence_id", sa.Integer(), nullable=False),
        sa.Column("mso", sa.LargeBinary(), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("signer_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["licence_id"], ["licences.id"], name="fk_licence_msos_licence_id_licences"),
        sa.PrimaryKeyConstraint("id", name="pk_licence_msos"),
        sa.UniqueConstraint("licence_id", name="uq_licence_msos_licence_id"),
    )
    op.create_table(
        "holder_presentations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.String(32), nullable=False),
        sa.Column("holder_id_type", sa.String(8), nullable=False),
        sa.Column("holder_id", sa.String(64), nullable=False),
        sa.Column("disclosed", sa.JSON(), nullable=False),
        sa.Column("purpose", sa.String(200), nullable=False),
        sa.Column("verifier", sa.String(200), nullable=True),
        sa.Column("issued_at", UTC, nullable=False),
        sa.Column("expires_at", UTC, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("used_at", UTC, nullable=True),
        sa.Column("used_by", sa.String(200), nullable=True),
        sa.Column("used_purpose", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_holder_presentations"),
        sa.UniqueConstraint("nonce", name="uq_holder_presentations_nonce"),
    )
    op.create_index("ix_holder_presentations_holder", "holder_presentations", ["holder_id_type", "holder_id"])
    op.create_table(
        "holder_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("handle", sa.String(32), nullable=False),
        sa.Column("holder_id_type", sa.String(8), nullable=False),
        sa.Column("holder_id", sa.String(64), nullable=False),
        sa.Column("issued_at", UTC, nullable=False),
        sa.Column("expires_at", UTC, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_holder_codes"),
        sa.UniqueConstraint("handle", name="uq_holder_codes_handle"),
    )
    op.create_table(
        "holder_consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("consent_id", sa.String(32), nullable=False),
        sa.Column("holder_id_type", sa.String(8), nullable=False),
        sa.Column("holder_id", sa.String(64), nullable=False),
        sa.Column("licences", sa.JSON(), nullable=False),
        sa.Column("purpose", sa.String(200), nullable=False),
        sa.Column("verifier", sa.String(200), nullable=True),
        sa.Column("valid_until", UTC, nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("withdrawn_at", UTC, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_holder_consents"),
        sa.UniqueConstraint("consent_id", name="uq_holder_consents_consent_id"),
    )
    op.create_index("ix_holder_consents_holder", "holder_consents", ["holder_id_type", "holder_id"])
    op.create_table(
        "holder_redemptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("holder_id_type", sa.String(8), nullable=False),
        sa.Column("holder_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("consent_id", sa.String(32), nullable=True),
        sa.Column("verifier", sa.String(200), nullable=False),
        sa.Column("purpose", sa.String(200), nullable=True),
        sa.Column("licences", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.Column("at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_holder_redemptions"),
        sa.CheckConstraint("outcome IN ('granted', 'refused')", name="ck_holder_redemptions_outcome"),
    )
    op.create_index("ix_holder_redemptions_holder", "holder_redemptions", ["holder_id_type", "holder_id"])


def downgrade() -> None:
    op.drop_index("ix_holder_redemptions_holder", table_name="holder_redemptions")
    op.drop_table("holder_redemptions")
    op.drop_index("ix_holder_consents_holder", table_name="holder_consents")
    op.drop_table("holder_consents")
    op.drop_table("holder_codes")
    op.drop_index("ix_holder_presentations_holder", table_name="holder_presentations")
    op.drop_table("holder_presentations")
    op.drop_table("licence_msos")
