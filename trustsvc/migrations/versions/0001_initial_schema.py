"""initial schema: regions, certificates, departments, CRLs, API keys, audit log

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "regions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(6), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_regions"),
        sa.UniqueConstraint("code", name="uq_regions_code"),
    )
    op.create_table(
        "departments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("issuing_ca_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_departments"),
        sa.UniqueConstraint("uscc", name="uq_departments_uscc"),
    )
    op.create_table(
        "certificates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(100), nullable=False),
        sa.Column("profile", sa.String(40), nullable=False),
        sa.Column("serial_hex", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(500), nullable=False),
        sa.Column("issuer_id", sa.Integer(), nullable=True),
        sa.Column("key_ref", sa.String(200), nullable=True),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("not_before", UTC, nullable=False),
        sa.Column("not_after", UTC, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("revoked_at", UTC, nullable=True),
        sa.Column("revocation_reason", sa.String(40), nullable=True),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["department_id"], ["departments.id"], name="fk_certificates_department_id_departments"),
        sa.ForeignKeyConstraint(["issuer_id"], ["certificates.id"], name="fk_certificates_issuer_id_certificates"),
        sa.PrimaryKeyConstraint("id", name="pk_certificates"),
        sa.UniqueConstraint("serial_hex", name="uq_certificates_serial_hex"),
        sa.UniqueConstraint("sha256", name="uq_certificates_sha256"),
        sa.UniqueConstraint("slug", name="uq_certificates_slug"),
    )
    op.create_index("ix_certificates_issuer_id", "certificates", ["issuer_id"])
    with op.batch_alter_table("departments") as batch:
        batch.create_foreign_key("fk_departments_issuing_ca", "certificates", ["issuing_ca_id"], ["id"])
    op.create_table(
        "crls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ca_id", sa.Integer(), nullable=False),
        sa.Column("crl_number", sa.Integer(), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.Column("this_update", UTC, nullable=False),
        sa.Column("next_update", UTC, nullable=False),
        sa.ForeignKeyConstraint(["ca_id"], ["certificates.id"], name="fk_crls_ca_id_certificates"),
        sa.PrimaryKeyConstraint("id", name="pk_crls"),
        sa.UniqueConstraint("ca_id", "crl_number", name="uq_crls_ca_number"),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("licence_types", sa.JSON(), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("revoked_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(["department_id"], ["departments.id"], name="fk_api_keys_department_id_departments"),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("key_id", name="uq_api_keys_key_id"),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("ts", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("object_type", sa.String(64), nullable=False),
        sa.Column("object_id", sa.String(200), nullable=False),
        sa.Column("key_ref", sa.String(200), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_log"),
        sa.UniqueConstraint("hash", name="uq_audit_log_hash"),
    )
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_head"),
    )
    op.execute("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '" + "0" * 64 + "')")


def downgrade() -> None:
    op.drop_table("audit_head")
    op.drop_table("audit_log")
    op.drop_table("api_keys")
    op.drop_table("crls")
    with op.batch_alter_table("departments") as batch:
        batch.drop_constraint("fk_departments_issuing_ca", type_="foreignkey")
    op.drop_table("certificates")
    op.drop_table("departments")
    op.drop_table("regions")
