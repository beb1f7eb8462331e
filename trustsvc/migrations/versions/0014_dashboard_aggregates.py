"""dashboard aggregates kept on write: licence events per department, type and China day; licences
now by department, type and status; active licences by their last valid day (so "expired", which
is computed, is counted); verifications per day by issuer and verifying region (trustsvc.dashboard)

Database triggers on ``licences`` keep the first three in the writer's own transaction, so every
write path (single issuance, the batch engine, bulk import including a raw COPY, change, renew,
suspend, reinstate, revoke) counts without code of its own. SQLite: row triggers (writers are
serialised anyway). PostgreSQL: statement triggers over transition tables (one grouped upsert per
statement, so a COPY of a million rows costs one pass), each backend writing its own shard row
(``pg_backend_pid() % 8``) so concurrent issuers of one department do not queue on one counter
row; readers sum the shards. Existing rows (and keyed verifications in the audit log) are
counted once here.

Revision ID: 0014_dashboard_aggregates
Revises: 0012_dashboard_indexes
Create Date: 2026-12-06
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import sqlalchemy as sa
from alembic import op

revision = "0014_dashboard_aggregates"
down_revision = "0013_licence_listing_index"
branch_labels = None
depends_on = None

SHARDS = 8
ROOT_PARTS = 5  # "1.2.156.3005.2" before type.issuer.serial.version.check
CHINA = dt.timezone(dt.timedelta(hours=8))

_TABLES = ("licence_day_counts", "licence_status_counts", "licence_active_until", "verification_day_counts")


def _tables() -> None:
    op.create_table(
        "licence_day_counts",
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("type_code", sa.String(64), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("department_id", "day", "type_code", "event", "shard", name="pk_licence_day_counts"),
    )
    op.create_table(
        "licence_status_counts",
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("type_code", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("department_id", "type_code", "status", "shard", name="pk_licence_status_counts"),
    )
    op.create_table(
        "licence_active_until",
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("type_code", sa.String(64), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("department_id", "valid_until", "type_code", "shard", name="pk_licence_active_until"),
    )
    op.create_table(
        "verification_day_counts",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("issuer", sa.String(32), nullable=False),
        sa.Column("verifier", sa.String(8), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "issuer", "verifier", "channel", name="pk_verification_day_counts"),
    )


# -- SQLite: row triggers ---------------------------------------------------------------------

_SQLITE_UPSERT = {
    "day": "ON CONFLICT(department_id, day, type_code, event, shard) DO UPDATE SET n = n + excluded.n",
    "status": "ON CONFLICT(department_id, type_code, status, shard) DO UPDATE SET n = n + excluded.n",
    "until": "ON CONFLICT(department_id, valid_until, type_code, shard) DO UPDATE SET n = n + excluded.n",
}


def _sqlite_row(ref: str, sign: int) -> list[str]:
    """Statements adding ``sign`` × the row ``ref`` (NEW or OLD) to the status and until counts."""
    return [
        "INSERT INTO licence_status_counts (department_id, type_code, status, shard, n) "
        f"VALUES ({ref}.department_id, {ref}.type_code, {ref}.status, 0, {sign}) {_SQLITE_UPSERT['status']};",
        "INSERT INTO licence_active_until (department_id, type_code, valid_until, shard, n) "
        f"SELECT {ref}.department_id, {ref}.type_code, {ref}.valid_until, 0, {sign} "
        f"WHERE {ref}.status = 'active' AND {ref}.valid_until IS NOT NULL {_SQLITE_UPSERT['until']};",
    ]


def _sqlite_event(ref: str, day: str, event: str, sign: int, where: str = "1") -> str:
    return (
        "INSERT INTO licence_day_counts (department_id, day, type_code, event, shard, n) "
        f"SELECT {ref}.department_id, date({day}, '+8 hours'), {ref}.type_code, {event}, 0, {sign} "
        f"WHERE {where} {_SQLITE_UPSERT['day']};"
    )


_ISSUE_EVENT = "CASE WHEN {r}.version > 1 THEN 'changed' ELSE 'issued' END"
_STATUS_EVENT = (
    "CASE WHEN NEW.status IN ('suspended', 'revoked') THEN NEW.status "
    "WHEN NEW.status = 'active' AND OLD.status = 'suspended' THEN 'reinstated' END"
)


def _sqlite_triggers() -> list[str]:
    insert = [
        _sqlite_event("NEW", "NEW.issued_at", _ISSUE_EVENT.format(r="NEW"), 1),
        # a row stored already suspended or revoked (a bulk import of existing licences)
        _sqlite_event(
            "NEW",
            "NEW.status_changed_at",
            "NEW.status",
            1,
            "NEW.status IN ('suspended', 'revoked') AND NEW.status_changed_at IS NOT NULL",
        ),
        *_sqlite_row("NEW", 1),
    ]
    update = [
        *_sqlite_row("OLD", -1),
        *_sqlite_row("NEW", 1),
        _sqlite_event(
            "NEW",
            "COALESCE(NEW.status_changed_at, CURRENT_TIMESTAMP)",
            _STATUS_EVENT,
            1,
            f"OLD.status IS NOT NEW.status AND ({_STATUS_EVENT}) IS NOT NULL",
        ),
    ]
    # a deleted row (no path of the service deletes one) takes back its issue and its status's event
    delete = [
        _sqlite_event("OLD", "OLD.issued_at", _ISSUE_EVENT.format(r="OLD"), -1),
        _sqlite_event(
            "OLD",
            "OLD.status_changed_at",
            "OLD.status",
            -1,
            "OLD.status IN ('suspended', 'revoked') AND OLD.status_changed_at IS NOT NULL",
        ),
        *_sqlite_row("OLD", -1),
    ]
    watched = (
        "OLD.status IS NOT NEW.status OR OLD.department_id IS NOT NEW.department_id "
        "OR OLD.type_code IS NOT NEW.type_code OR OLD.valid_until IS NOT NEW.valid_until"
    )
    return [
        "CREATE TRIGGER trg_licences_counts_insert AFTER INSERT ON licences BEGIN\n" + "\n".join(insert) + "\nEND",
        "CREATE TRIGGER trg_licences_counts_update AFTER UPDATE OF status, department_id, type_code, valid_until "
        f"ON licences WHEN {watched} BEGIN\n" + "\n".join(update) + "\nEND",
        "CREATE TRIGGER trg_licences_counts_delete AFTER DELETE ON licences BEGIN\n" + "\n".join(delete) + "\nEND",
    ]


# -- PostgreSQL: statement triggers over transition tables -------------------------------------

_PG_DAY = "((({col}) AT TIME ZONE 'UTC') + interval '8 hours')::date"
_PG_SHARD = f"(pg_backend_pid() % {SHARDS})::smallint"
_PG_UPSERT = {
    "day": "ON CONFLICT (department_id, day, type_code, event, shard) DO UPDATE SET n = c.n + excluded.n",
    "status": "ON CONFLICT (department_id, type_code, status, shard) DO UPDATE SET n = c.n + excluded.n",
    "until": "ON CONFLICT (department_id, valid_until, type_code, shard) DO UPDATE SET n = c.n + excluded.n",
}


def _pg_apply(deltas: str) -> list[str]:
    """Upserts adding ``deltas`` (department_id, type_code, status, valid_until, d) to the status
    and until counts, grouped, in key order (so two writers never lock rows in opposite orders)."""
    return [
        "INSERT INTO licence_status_counts AS c (department_id, type_code, status, shard, n) "
        f"SELECT department_id, type_code, status, {_PG_SHARD}, sum(d) FROM ({deltas}) x "
        "GROUP BY 1, 2, 3 HAVING sum(d) <> 0 ORDER BY 1, 2, 3 " + _PG_UPSERT["status"] + ";",
        "INSERT INTO licence_active_until AS c (department_id, valid_until, type_code, shard, n) "
        f"SELECT department_id, valid_until, type_code, {_PG_SHARD}, sum(d) FROM ({deltas}) x "
        "WHERE status = 'active' AND valid_until IS NOT NULL "
        "GROUP BY 1, 2, 3 HAVING sum(d) <> 0 ORDER BY 1, 2, 3 " + _PG_UPSERT["until"] + ";",
    ]


def _pg_events(events: str) -> str:
    """An upsert adding ``events`` (department_id, day, type_code, event, d) to the day counts."""
    return (
        "INSERT INTO licence_day_counts AS c (department_id, day, type_code, event, shard, n) "
        f"SELECT department_id, day, type_code, event, {_PG_SHARD}, sum(d) FROM ({events}) x "
        "GROUP BY 1, 2, 3, 4 HAVING sum(d) <> 0 ORDER BY 1, 2, 3, 4 " + _PG_UPSERT["day"] + ";"
    )


def _pg_function(name: str, body: list[str]) -> str:
    return (
        f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n"
        + "\n".join(body)
        + "\nRETURN NULL;\nEND\n$$"
    )


def _pg_statements() -> list[str]:
    rows = "SELECT department_id, type_code, status, valid_until, {sign} AS d FROM {table}"
    insert = [
        _pg_events(
            f"SELECT department_id, {_PG_DAY.format(col='issued_at')} AS day, type_code, "
            f"{_ISSUE_EVENT.format(r='new_rows')} AS event, 1 AS d FROM new_rows "
            f"UNION ALL SELECT department_id, {_PG_DAY.format(col='status_changed_at')}, type_code, status, 1 "
            "FROM new_rows WHERE status IN ('suspended', 'revoked') AND status_changed_at IS NOT NULL"
        ),
        *_pg_apply(rows.format(sign=1, table="new_rows")),
    ]
    changed = (
        "FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE o.status IS DISTINCT FROM n.status "
        "OR o.department_id <> n.department_id OR o.type_code <> n.type_code "
        "OR o.valid_until IS DISTINCT FROM n.valid_until"
    )
    status_event = _STATUS_EVENT.replace("NEW.", "n.").replace("OLD.", "o.")
    update = [
        *_pg_apply(
            f"SELECT o.department_id, o.type_code, o.status, o.valid_until, -1 AS d {changed} "
            f"UNION ALL SELECT n.department_id, n.type_code, n.status, n.valid_until, 1 {changed}"
        ),
        _pg_events(
            f"SELECT n.department_id, {_PG_DAY.format(col='COALESCE(n.status_changed_at, now())')} AS day, "
            f"n.type_code, {status_event} AS event, 1 AS d "
            "FROM old_rows o JOIN new_rows n ON n.id = o.id "
            f"WHERE o.status IS DISTINCT FROM n.status AND ({status_event}) IS NOT NULL"
        ),
    ]
    delete = [
        _pg_events(
            f"SELECT department_id, {_PG_DAY.format(col='issued_at')} AS day, type_code, "
            f"{_ISSUE_EVENT.format(r='old_rows')} AS event, -1 AS d FROM old_rows "
            f"UNION ALL SELECT department_id, {_PG_DAY.format(col='status_changed_at')}, type_code, status, -1 "
            "FROM old_rows WHERE status IN ('suspended', 'revoked') AND status_changed_at IS NOT NULL"
        ),
        *_pg_apply(rows.format(sign=-1, table="old_rows")),
    ]
    return [
        _pg_function("licences_counts_insert", insert),
        _pg_function("licences_counts_update", update),
        _pg_function("licences_counts_delete", delete),
        "CREATE TRIGGER trg_licences_counts_insert AFTER INSERT ON licences "
        "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION licences_counts_insert()",
        "CREATE TRIGGER trg_licences_counts_update AFTER UPDATE ON licences "
        "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
        "EXECUTE FUNCTION licences_counts_update()",
        "CREATE TRIGGER trg_licences_counts_delete AFTER DELETE ON licences "
        "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION licences_counts_delete()",
    ]


# -- backfill ---------------------------------------------------------------------------------


def _backfill(postgres: bool) -> None:
    def day(col: str) -> str:
        return _PG_DAY.format(col=col) if postgres else f"date({col}, '+8 hours')"

    def audit_day(col: str) -> str:
        return f"(substr({col}, 1, 19)::timestamp + interval '8 hours')::date" if postgres else day(f"substr({col}, 1, 19)")

    op.execute(
        "INSERT INTO licence_status_counts (department_id, type_code, status, shard, n) "
        "SELECT department_id, type_code, status, 0, count(*) FROM licences GROUP BY 1, 2, 3"
    )
    op.execute(
        "INSERT INTO licence_active_until (department_id, valid_until, type_code, shard, n) "
        "SELECT department_id, valid_until, type_code, 0, count(*) FROM licences "
        "WHERE status = 'active' AND valid_until IS NOT NULL GROUP BY 1, 2, 3"
    )
    # issues and changes from the rows; revocations (final) from the rows; suspensions and
    # reinstatements (which a later change of status hides) from the audit log
    events = (
        f"SELECT department_id, {day('issued_at')} AS day, type_code, "
        "CASE WHEN version > 1 THEN 'changed' ELSE 'issued' END AS event FROM licences "
        f"UNION ALL SELECT department_id, {day('status_changed_at')}, type_code, 'revoked' FROM licences "
        "WHERE status = 'revoked' AND status_changed_at IS NOT NULL "
        f"UNION ALL SELECT l.department_id, {audit_day('a.ts')}, l.type_code, "
        "CASE a.action WHEN 'licence.suspend' THEN 'suspended' ELSE 'reinstated' END "
        "FROM audit_log a JOIN licences l ON l.identifier = a.object_id "
        "WHERE a.action IN ('licence.suspend', 'licence.reinstate')"
    )
    op.execute(
        "INSERT INTO licence_day_counts (department_id, day, type_code, event, shard, n) "
        f"SELECT department_id, day, type_code, event, 0, count(*) FROM ({events}) e GROUP BY 1, 2, 3, 4"
    )
    # keyed verifications (the audit log holds those; anonymous ones were never recorded)
    conn = op.get_bind()
    counts: Counter[tuple[dt.date, str]] = Counter()
    rows = conn.execute(
        sa.text("SELECT object_id, substr(ts, 1, 19), count(*) FROM audit_log WHERE action = 'code.verify' GROUP BY 1, 2")
    )
    for object_id, ts, n in rows:
        parts = str(object_id or "").split(".")
        if len(parts) != ROOT_PARTS + 5:
            continue
        at = dt.datetime.fromisoformat(str(ts)).replace(tzinfo=dt.UTC)
        counts[(at.astimezone(CHINA).date(), parts[ROOT_PARTS + 1].upper()[:32])] += int(n)
    table = sa.table(
        "verification_day_counts",
        sa.column("day", sa.Date()),
        sa.column("issuer", sa.String()),
        sa.column("verifier", sa.String()),
        sa.column("channel", sa.String()),
        sa.column("n", sa.BigInteger()),
    )
    if counts:
        op.bulk_insert(
            table,
            [
                {"day": d, "issuer": issuer, "verifier": "", "channel": "verify", "n": n}
                for (d, issuer), n in sorted(counts.items())
            ],
        )


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    _tables()
    # triggers first: on PostgreSQL creating them locks out writers until this commits, so the
    # backfill below sees every row exactly once
    for statement in _pg_statements() if postgres else _sqlite_triggers():
        op.execute(statement)
    _backfill(postgres)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for what in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS trg_licences_counts_{what}" + (" ON licences" if postgres else ""))
        if postgres:
            op.execute(f"DROP FUNCTION IF EXISTS licences_counts_{what}()")
    for name in reversed(_TABLES):
        op.drop_table(name)
