"""dashboard indexes: licences by department and issue time, by department and status change,
by department, type and status; audit events by action and time (trustsvc.dashboard)

Revision ID: 0012_dashboard_indexes
Revises: 0011_seal_lifecycle
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0012_dashboard_indexes"
down_revision = "0011_seal_lifecycle"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_licences_department_issued", "licences", ["department_id", "issued_at", "version"]),
    ("ix_licences_department_status_changed", "licences", ["department_id", "status", "status_changed_at"]),
    ("ix_licences_department_type_status", "licences", ["department_id", "type_code", "status"]),
    ("ix_audit_log_action_ts", "audit_log", ["action", "ts", "object_id"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
