"""licence expiry listing: keyset pages of expired licences

``expired`` is not stored: it is an active licence whose ``valid_until`` has passed, worked out
when a page is read (``WHERE status = 'active' AND valid_until < today``). Without an index on
the end date, a page of expired licences walks the primary key backwards and filters every row:
with none expired among ten million licences, that read the whole table (EXPLAIN ANALYZE 23.7 s,
docs/scale.md).

The index is on ``(valid_until, id)`` over active licences that have an end date, so a page
reads the expired range of it and takes the newest ids. New licences go in near its end (their
end dates are a few years ahead, in a handful of places, one per validity period), which costs
issuance about what the listing index of migration 0013 does. The listing says the predicate
again, as a literal, so that SQLite and PostgreSQL's generic plans both take the index.

On a PostgreSQL database of millions of licences, build it first without blocking writes
(README, "Running on PostgreSQL")::

    CREATE INDEX CONCURRENTLY ix_licences_expiry_id ON licences (valid_until, id)
        WHERE status = 'active' AND valid_until IS NOT NULL;

and this migration keeps it (``IF NOT EXISTS``); drop an INVALID one left by a failed build first.

Revision ID: 0017_licence_expiry_listing
Revises: 0016_licence_status_listing
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017_licence_expiry_listing"
down_revision = "0016_licence_status_listing"
branch_labels = None
depends_on = None

ACTIVE_WITH_END = "status = 'active' AND valid_until IS NOT NULL"


def upgrade() -> None:
    op.create_index(
        "ix_licences_expiry_id",
        "licences",
        ["valid_until", "id"],
        postgresql_where=sa.text(ACTIVE_WITH_END),
        sqlite_where=sa.text(ACTIVE_WITH_END),
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_index("ix_licences_expiry_id", table_name="licences", if_exists=True)
