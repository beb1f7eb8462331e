"""The dashboard's aggregate tables (migration 0014, kept by database triggers) against counts
taken straight from ``licences`` and the audit log: after issue, change, suspend, reinstate and
revoke; after a bulk import; after rows written straight into the table (executemany, and a raw
COPY on PostgreSQL) and deleted; and after the migration rebuilds them from existing rows. On
SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import Any, cast

from alembic import command
from licence_helpers import DEPT, business_body
from sqlalchemy import Table, delete, func, insert, select, update

from trustsvc.apikeys import SystemActor
from trustsvc.dashboard import CHINA, dashboard
from trustsvc.dashboard_counts import licence_active_until, licence_day_counts, licence_status_counts
from trustsvc.formats.uscc import uscc_check_char
from trustsvc.licences.bulk import import_rows, read_rows
from trustsvc.licences.service import (
    change_licence,
    issue_licence,
    reinstate_licence,
    request_from_json,
    revoke_licence,
    suspend_licence,
)
from trustsvc.storage.models import AuditEventRecord, Department, LicenceRecord


def _company(n: int) -> str:
    body = f"91320100MA{n:07d}"
    return body + uscc_check_char(body)


def _body(n: int, **extra: object) -> dict[str, Any]:
    body = business_body()
    body["fields"] = {**body["fields"], "name": f"公司{n}", "uscc": _company(n)}
    body["holder"] = {"id_type": "001"}
    return {**body, **extra}


def _day(at: dt.datetime) -> dt.date:
    return at.astimezone(CHINA).date()


def _summed(session: Any, table: Any, *keys: str) -> dict[tuple[Any, ...], int]:
    cols = [table.c[k] for k in keys]
    rows = session.execute(select(*cols, func.sum(table.c.n)).group_by(*cols)).all()
    return {tuple(r[:-1]): int(r[-1]) for r in rows if int(r[-1])}


def straight_counts(session: Any) -> dict[str, dict[tuple[Any, ...], int]]:
    """What the aggregates must hold, counted from the rows themselves."""
    licences = session.execute(select(LicenceRecord)).unique().scalars().all()
    status: Counter[tuple[Any, ...]] = Counter()
    until: Counter[tuple[Any, ...]] = Counter()
    events: Counter[tuple[Any, ...]] = Counter()
    for r in licences:
        status[(r.department_id, r.type_code, r.status)] += 1
        if r.status == "active" and r.valid_until is not None:
            until[(r.department_id, r.valid_until, r.type_code)] += 1
        events[(r.department_id, _day(r.issued_at), r.type_code, "changed" if r.version > 1 else "issued")] += 1
        if r.status == "revoked" and r.status_changed_at is not None:
            events[(r.department_id, _day(r.status_changed_at), r.type_code, "revoked")] += 1
    by_ident = {r.identifier: r for r in licences}
    audit = session.execute(
        select(AuditEventRecord.ts, AuditEventRecord.action, AuditEventRecord.object_id).where(
            AuditEventRecord.action.in_(("licence.suspend", "licence.reinstate"))
        )
    ).all()
    event_of = {"licence.suspend": "suspended", "licence.reinstate": "reinstated"}
    for ts, action, object_id in audit:
        r = by_ident[object_id]
        at = dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))
        events[(r.department_id, _day(at), r.type_code, event_of[action])] += 1
    # rows written already suspended (a bulk load: no audit event) count their suspension too
    audited = {object_id for _ts, _action, object_id in audit}
    for r in licences:
        if r.status == "suspended" and r.status_changed_at is not None and r.identifier not in audited:
            events[(r.department_id, _day(r.status_changed_at), r.type_code, "suspended")] += 1
    return {"status": dict(status), "until": dict(until), "events": dict(events)}


def aggregate_counts(session: Any) -> dict[str, dict[tuple[Any, ...], int]]:
    return {
        "status": _summed(session, licence_status_counts, "department_id", "type_code", "status"),
        "until": _summed(session, licence_active_until, "department_id", "valid_until", "type_code"),
        "events": _summed(session, licence_day_counts, "department_id", "day", "type_code", "event"),
    }


def _assert_aggregates_right(service: Any) -> dict[str, dict[tuple[Any, ...], int]]:
    with service.db.reader() as s:
        straight, held = straight_counts(s), aggregate_counts(s)
    assert held == straight
    return held


def test_lifecycle_keeps_the_aggregates(service, seal) -> None:
    ids = [
        issue_licence(
            service, request_from_json(_body(n)), department_uscc=DEPT, principal_or_actor=SystemActor("test")
        ).identifier
        for n in range(4)
    ]
    changed = change_licence(
        service, ids[0], principal_or_actor=SystemActor("test"), fields={"business_scope": "餐饮服务"}, timestamp=False
    )
    suspend_licence(service, ids[1], principal_or_actor=SystemActor("test"))
    reinstate_licence(service, ids[1], principal_or_actor=SystemActor("test"))
    suspend_licence(service, ids[2], principal_or_actor=SystemActor("test"))
    revoke_licence(service, ids[2], principal_or_actor=SystemActor("test"), reason="申请注销")
    held = _assert_aggregates_right(service)
    per_event = Counter()
    for (_dept, _day, _type, event), n in held["events"].items():
        per_event[event] += n
    assert per_event == {"issued": 4, "changed": 1, "suspended": 2, "reinstated": 1, "revoked": 1}
    per_status = Counter()
    for (_dept, _type, status), n in held["status"].items():
        per_status[status] += n
    assert per_status == {"active": 3, "superseded": 1, "revoked": 1}
    assert changed.version == 2


def test_bulk_import_keeps_the_aggregates(service, seal, tmp_path: Path) -> None:
    lines = [json.dumps(_body(n, issued_on=f"2015-05-0{n + 1}"), ensure_ascii=False) for n in range(5)]
    lines.append(json.dumps({**_body(9), "fields": {"name": "缺字段"}}, ensure_ascii=False))  # refused
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = import_rows(service, read_rows(path), actor="test", department=DEPT, batch=2)
    assert (report.issued, report.failed) == (5, 1)
    held = _assert_aggregates_right(service)
    days = sorted(day for (_d, day, _t, e) in held["events"] if e == "issued")
    assert days[0] == dt.date(2015, 5, 1) and len(days) == 5  # each on its original China day


def _raw_row(dept_id: int, n: int, *, status: str = "active", until: dt.date | None = None) -> dict[str, Any]:
    issued = dt.datetime(2026, 3, 1, 20, 30, tzinfo=dt.UTC) + dt.timedelta(hours=n * 7)
    return {
        "identifier": f"1.2.156.3005.2.RAW.{dept_id}.{n:011d}.001.0",
        "type_code": "RAW" if n % 2 else "RAX",
        "department_id": dept_id,
        "serial": f"{n:011d}",
        "version": 2 if n % 5 == 0 else 1,
        "status": status,
        "holder_name": "某某",
        "holder_id_type": "001",
        "holder_id": "X",
        "fields": {},
        "valid_from": issued.date(),
        "valid_until": until,
        "issued_at": issued,
        "status_changed_at": issued + dt.timedelta(days=3) if status != "active" else None,
        "metadata_json": "{}",
        "metadata_signature": b"",
        "seal_esid": "raw",
        "status_index": 1000 + n,
    }


def test_rows_written_straight_and_deleted_keep_the_aggregates(service) -> None:
    with service.db.reader() as s:
        dept_id = s.scalars(select(Department.id)).one()
    past, future = dt.date(2026, 1, 31), dt.date(2099, 12, 31)
    statuses = ["active", "active", "suspended", "revoked", "active"]
    rows = [_raw_row(dept_id, n, status=statuses[n % 5], until=(past, future, None)[n % 3]) for n in range(40)]
    with service.db.transaction() as s:
        s.execute(
            insert(cast(Table, LicenceRecord.__table__)), rows
        )  # executemany by column, as a fast bulk path would
    _assert_aggregates_right(service)
    with service.db.transaction() as s:
        s.execute(update(LicenceRecord).where(LicenceRecord.serial < "00000000010").values(valid_until=past))
        s.execute(delete(LicenceRecord).where(LicenceRecord.serial >= "00000000030"))
    _assert_aggregates_right(service)
    # an active licence past its last valid day counts as expired, as the status checks say
    with service.db.reader() as s:
        figures = dashboard(s, [dept_id], today=dt.date(2026, 6, 1))
        expired = s.scalar(
            select(func.count())
            .select_from(LicenceRecord)
            .where(LicenceRecord.status == "active", LicenceRecord.valid_until < dt.date(2026, 6, 1))
        )
    assert figures.status_totals()["expired"] == expired > 0
    if service.db.write_engine.dialect.name == "postgresql":
        _copy_rows(service, [_raw_row(dept_id, n, status=statuses[n % 5], until=future) for n in range(100, 130)])
        _assert_aggregates_right(service)


def _copy_rows(service: Any, rows: list[dict[str, Any]]) -> None:
    """A raw COPY, as a bulk loader on PostgreSQL would write (no ORM, no code of ours)."""
    cols = list(rows[0])
    raw = service.db.write_engine.raw_connection()
    try:
        with raw.cursor() as cur, cur.copy(f"COPY licences ({', '.join(cols)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([json.dumps(v) if isinstance(v, dict) else v for v in row.values()])
        raw.commit()
    finally:
        raw.close()


def test_the_migration_counts_existing_rows(service, seal) -> None:
    ids = [
        issue_licence(
            service, request_from_json(_body(n)), department_uscc=DEPT, principal_or_actor=SystemActor("test")
        ).identifier
        for n in range(3)
    ]
    suspend_licence(service, ids[0], principal_or_actor=SystemActor("test"))
    revoke_licence(service, ids[1], principal_or_actor=SystemActor("test"), reason="x")
    before = _assert_aggregates_right(service)
    with service.db.write_engine.begin() as conn:
        command.downgrade(service.db._alembic(conn), "0012_dashboard_indexes")
    with service.db.write_engine.begin() as conn:
        command.upgrade(service.db._alembic(conn), "head")
    assert _assert_aggregates_right(service) == before
