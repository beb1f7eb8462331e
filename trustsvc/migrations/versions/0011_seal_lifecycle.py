"""seal lifecycle: every seal status change with its effective time (so a signature is judged
by the seal's status at its signing time, here and at peers), and each department's chosen
default seal (no longer the newest active one)

Revision ID: 0011_seal_lifecycle
Revises: 0010_holder_codes
Create Date: 2026-12-09
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0011_seal_lifecycle"
down_revision = "0010_holder_codes"
branch_labels = None
depends_on = None

UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "seal_status_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seal_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("effective_at", UTC, nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("replaced_by_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("recorded_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["seal_id"], ["seals.id"], name="fk_seal_status_events_seal_id_seals"),
        sa.ForeignKeyConstraint(["replaced_by_id"], ["seals.id"], name="fk_seal_status_events_replaced_by_id_seals"),
        sa.PrimaryKeyConstraint("id", name="pk_seal_status_events"),
    )
    op.create_index("ix_seal_status_events_seal_id", "seal_status_events", ["seal_id"])
    defaults = op.create_table(
        "department_default_seals",
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("seal_id", sa.Integer(), nullable=False),
        sa.Column("chosen_at", UTC, nullable=False),
        sa.Column("chosen_by", sa.String(200), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"], ["departments.id"], name="fk_department_default_seals_department_id_departments"
        ),
        sa.ForeignKeyConstraint(["seal_id"], ["seals.id"], name="fk_department_default_seals_seal_id_seals"),
        sa.PrimaryKeyConstraint("department_id", name="pk_department_default_seals"),
    )
    # Keep what licences were sealed with until now: each department's newest active seal.
    seals = sa.table(
        "seals",
        sa.column("id", sa.Integer()),
        sa.column("department_id", sa.Integer()),
        sa.column("status", sa.String()),
        sa.column("created_at", UTC),
    )
    rows = (
        op.get_bind()
        .execute(
            sa.select(seals.c.department_id, seals.c.id)
            .where(seals.c.status == "active")
            .order_by(seals.c.department_id, seals.c.created_at, seals.c.id)
        )
        .all()
    )
    newest = {dept: seal for dept, seal in rows}
    now = dt.datetime.now(dt.timezone.utc)
    if op.get_bind().dialect.name == "sqlite":
        now = now.replace(tzinfo=None)
    if newest:
        op.bulk_insert(
            defaults,
            [{"department_id": d, "seal_id": s, "chosen_at": now, "chosen_by": "migration"} for d, s in newest.items()],
        )


def downgrade() -> None:
    op.drop_table("department_default_seals")
    op.drop_index("ix_seal_status_events_seal_id", table_name="seal_status_events")
    op.drop_table("seal_status_events")
