"""licence listing index: one department's licences newest first (keyset pages by id)

A department's page is ``WHERE department_id = ? AND id < ? ORDER BY id DESC LIMIT n``; without
this index PostgreSQL walks the primary key backwards through every other department's rows.

Revision ID: 0013_licence_listing_index
Revises: 0012_dashboard_indexes
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0013_licence_listing_index"
down_revision = "0012_dashboard_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_licences_department_id", "licences", ["department_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_licences_department_id", table_name="licences")
