"""trust lists: the lists this region published, imported peers with the list held of each,
peers' issuers' status lists, per-department licence type grants, retired (rotated) signers

Revision ID: 0007_trust_lists
Revises: 0006_service_codes
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_trust_lists"
down_revision = "0006_service_codes"
branch_labels = None
depends_on = None

UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "trust_lists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("issued_at", UTC, nullable=False),
        sa.Column("next_update", UTC, nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("signer_sha256", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_trust_lists"),
        sa.UniqueConstraint("sequence", name="uq_trust_lists_sequence"),
    )
    op.create_table(
        "trust_peers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("region_code", sa.String(6), nullable=False),
        sa.Column("region_name", sa.String(200), nullable=False),
        sa.Column("pin", sa.String(64), nullable=False),
        sa.Column("source", sa.String(1000), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("issued_at", UTC, nullable=False),
        sa.Column("next_update", UTC, nullable=False),
        sa.Column("fetched_at", UTC, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_attempt_at", UTC, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_trust_peers"),
        sa.UniqueConstraint("region_code", name="uq_trust_peers_region_code"),
    )
    op.create_table(
        "peer_status_lists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("peer_id", sa.Integer(), nullable=False),
        sa.Column("issuer_uscc", sa.String(18), nullable=False),
        sa.Column("url", sa.String(1000), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("issued_at", UTC, nullable=False),
        sa.Column("next_update", UTC, nullable=False),
        sa.Column("fetched_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["peer_id"], ["trust_peers.id"], name="fk_peer_status_lists_peer_id_trust_peers",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_peer_status_lists"),
        sa.UniqueConstraint("peer_id", "issuer_uscc", name="uq_peer_status_lists_issuer"),
    )
    op.create_table(
        "licence_type_grants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("type_code", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(["department_id"], ["departments.id"],
                                name="fk_licence_type_grants_department_id_departments"),
        sa.PrimaryKeyConstraint("id", name="pk_licence_type_grants"),
        sa.UniqueConstraint("department_id", "type_code", name="uq_licence_type_grants_type"),
    )
    op.create_table(
        "retired_signers",
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("retired_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["certificate_id"], ["certificates.id"],
                                name="fk_retired_signers_certificate_id_certificates"),
        sa.PrimaryKeyConstraint("certificate_id", name="pk_retired_signers"),
    )


def downgrade() -> None:
    op.drop_table("retired_signers")
    op.drop_table("licence_type_grants")
    op.drop_table("peer_status_lists")
    op.drop_table("trust_peers")
    op.drop_table("trust_lists")
