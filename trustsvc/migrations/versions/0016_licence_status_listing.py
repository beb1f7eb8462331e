"""licence status listing: keyset pages of suspended, revoked or superseded licences

A page of one status is ``WHERE status = ? AND id < ? ORDER BY id DESC LIMIT n`` (with
``department_id = ?`` for one issuer). Without an index that leads with the status, both
databases walk the primary key backwards and filter: at ten million licences, 2 % revoked, a
page read ~2,800 rows for its 51 and took 70 ms at p99 on a cold cache (docs/scale.md).

The indexes are partial (``status <> 'active'``): an active licence, nearly every row and every
new one, is not in them, so issuance pays nothing for them and they hold a few per cent of the
table. The listing repeats the predicate in its query so that SQLite, which only uses a partial
index whose condition appears in the query, picks them too.

``CREATE INDEX`` blocks writes to the table while it builds. On a PostgreSQL database of
millions of licences, build them first without blocking (README, "Running on PostgreSQL")::

    CREATE INDEX CONCURRENTLY ix_licences_status_id ON licences (status, id)
        WHERE status <> 'active';
    CREATE INDEX CONCURRENTLY ix_licences_department_status_id ON licences (department_id, status, id)
        WHERE status <> 'active';

and this migration keeps them (``IF NOT EXISTS``). A concurrent build that failed leaves an
INVALID index of the same name, which this migration would keep too: drop and rebuild it first.

Revision ID: 0016_licence_status_listing
Revises: 0015_audit_checkpoints
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_licence_status_listing"
down_revision = "0015_audit_checkpoints"
branch_labels = None
depends_on = None

NOT_ACTIVE = "status <> 'active'"
INDEXES = (
    ("ix_licences_status_id", ["status", "id"]),
    ("ix_licences_department_status_id", ["department_id", "status", "id"]),
)


def upgrade() -> None:
    for name, columns in INDEXES:
        op.create_index(
            name,
            "licences",
            columns,
            postgresql_where=sa.text(NOT_ACTIVE),
            sqlite_where=sa.text(NOT_ACTIVE),
            if_not_exists=True,
        )


def downgrade() -> None:
    for name, _ in reversed(INDEXES):
        op.drop_index(name, table_name="licences", if_exists=True)
