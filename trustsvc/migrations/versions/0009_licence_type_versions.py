"""licence type versions: every definition a licence type has had, and the version each licence
was issued under

Revision ID: 0009_licence_type_versions
Revises: 0008_trust_version
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_licence_type_versions"
down_revision = "0008_trust_version"
branch_labels = None
depends_on = None

UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "licence_type_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("template", sa.String(64), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("source", sa.String(300), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_licence_type_versions"),
        sa.UniqueConstraint("code", "version", name="uq_licence_type_versions_code"),
    )
    with op.batch_alter_table("licences") as batch:
        batch.add_column(sa.Column("type_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("licences") as batch:
        batch.drop_column("type_version")
    op.drop_table("licence_type_versions")
