"""licences: e-licences (GB/T 36904 identifiers, GB/T 36903 metadata, sealed)

Revision ID: 0003_licences
Revises: 0002_seals
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_licences"
down_revision = "0002_seals"
branch_labels = None
depends_on = None

UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "licences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("identifier", sa.String(256), nullable=False),
        sa.Column("type_code", sa.String(64), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("serial", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("holder_name", sa.String(200), nullable=False),
        sa.Column("holder_id_type", sa.String(8), nullable=False),
        sa.Column("holder_id", sa.String(64), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("issued_at", UTC, nullable=False),
        sa.Column("supersedes_id", sa.Integer(), nullable=True),
        sa.Column("status_reason", sa.String(500), nullable=True),
        sa.Column("status_changed_at", UTC, nullable=True),
        sa.Column("metadata_json", sa.Text(), nullable=False),
        sa.Column("metadata_signature", sa.LargeBinary(), nullable=False),
        sa.Column("seal_esid", sa.String(32), nullable=False),
        sa.Column("status_index", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(["department_id"], ["departments.id"],
                                name="fk_licences_department_id_departments"),
        sa.ForeignKeyConstraint(["supersedes_id"], ["licences.id"], name="fk_licences_supersedes_id_licences"),
        sa.PrimaryKeyConstraint("id", name="pk_licences"),
        sa.UniqueConstraint("identifier", name="uq_licences_identifier"),
        sa.UniqueConstraint("department_id", "type_code", "serial", "version", name="uq_licences_serial_version"),
        sa.UniqueConstraint("department_id", "status_index", name="uq_licences_status_index"),
        sa.UniqueConstraint("department_id", "idempotency_key", name="uq_licences_idempotency_key"),
    )
    op.create_index("ix_licences_holder_id", "licences", ["holder_id"])
    op.create_index("ix_licences_supersedes_id", "licences", ["supersedes_id"])


def downgrade() -> None:
    op.drop_index("ix_licences_supersedes_id", table_name="licences")
    op.drop_index("ix_licences_holder_id", table_name="licences")
    op.drop_table("licences")
