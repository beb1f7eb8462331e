"""audit log: no unique index on the row hash

The first schema made ``audit_log.hash`` unique. Nothing reads a row by its hash: the chain is
walked by ``seq`` (the primary key, which is also what refuses two appends of the same place
in the chain), and a row's hash is checked by recomputing it from the row before. The unique
index only cost: a B-tree over random digests takes every new event into a random leaf page,
so at scale each append reads and dirties a page no other append shares. At 20 million events
(ten million licences) the index was 2.4 GB, and the audit insert of one issuance took 907 µs
against 432 µs at 24 thousand events; appending two events a transaction on that database took
a median 1,040–1,155 µs with the index and 770–810 µs without it (docs/scale.md).

PostgreSQL drops the constraint in place (a brief exclusive lock on ``audit_log``). SQLite
cannot drop a table constraint: the table is copied into one without it (Alembic's batch mode),
which reads and writes the whole log once.

Revision ID: 0018_audit_hash_not_indexed
Revises: 0017_licence_expiry_listing
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0018_audit_hash_not_indexed"
down_revision = "0017_licence_expiry_listing"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE audit_log DROP CONSTRAINT IF EXISTS uq_audit_log_hash")
        return
    with op.batch_alter_table("audit_log", recreate="always") as batch:
        batch.drop_constraint("uq_audit_log_hash", type_="unique")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_unique_constraint("uq_audit_log_hash", "audit_log", ["hash"])
        return
    with op.batch_alter_table("audit_log", recreate="always") as batch:
        batch.create_unique_constraint("uq_audit_log_hash", ["hash"])
