"""The hash-chained audit log on SQLite and PostgreSQL: every edit, deletion or reordering is
found and the first bad row is named."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, select, update

from trustsvc.audit import AuditEvent, record, verify_chain
from trustsvc.cli import cli
from trustsvc.storage import AuditEventRecord, Database


@pytest.fixture
def db(database_url: str) -> Database:
    database = Database(database_url)
    database.migrate()
    yield database
    database.dispose()


def _fill(db: Database, n: int) -> None:
    for i in range(n):
        with db.transaction() as s:
            record(
                s,
                AuditEvent(
                    actor="test",
                    action="thing.do",
                    object_type="thing",
                    object_id=str(i),
                    key_ref="soft:k",
                    details={"i": i, "名称": "江苏"},
                ),
            )


def _verify(db: Database):
    with db.reader() as s:
        return verify_chain(s)


def test_intact_chain_verifies(db: Database) -> None:
    _fill(db, 12)
    result = _verify(db)
    assert result.ok and result.rows == 12 and result.bad_seq is None


@pytest.mark.parametrize(
    "column, value",
    [
        ("action", "thing.undo"),
        ("actor", "mallory"),
        ("details", '{"i":999}'),
        ("ts", "2020-01-01T00:00:00.000000Z"),
        ("object_id", "x"),
        ("key_ref", "soft:other"),
    ],
)
def test_editing_any_column_of_any_row_is_found(db: Database, column: str, value: str) -> None:
    _fill(db, 6)
    with db.transaction() as s:
        s.execute(update(AuditEventRecord).where(AuditEventRecord.seq == 4).values({column: value}))
    result = _verify(db)
    assert not result.ok and result.bad_seq == 4


def test_deleting_a_middle_row_is_found(db: Database) -> None:
    _fill(db, 6)
    with db.transaction() as s:
        s.execute(delete(AuditEventRecord).where(AuditEventRecord.seq == 3))
    result = _verify(db)
    assert not result.ok and result.bad_seq == 3 and "missing" in result.problem


def test_deleting_the_newest_rows_is_found(db: Database) -> None:
    _fill(db, 6)
    with db.transaction() as s:
        s.execute(delete(AuditEventRecord).where(AuditEventRecord.seq >= 5))
    result = _verify(db)
    assert not result.ok and result.bad_seq == 5 and "removed" in result.problem


def test_reordering_rows_is_found(db: Database) -> None:
    _fill(db, 6)
    with db.transaction() as s:
        r2, r5 = (s.execute(select(AuditEventRecord).where(AuditEventRecord.seq == n)).scalar_one() for n in (2, 5))
        fields = ("ts", "actor", "action", "object_type", "object_id", "key_ref", "details", "prev_hash", "hash")
        a = {f: getattr(r2, f) for f in fields}
        b = {f: getattr(r5, f) for f in fields}
        # swap their places
        for f in fields:
            setattr(r2, f, b[f])
            setattr(r5, f, a[f])
    result = _verify(db)
    assert not result.ok and result.bad_seq == 2


def test_a_failed_transaction_leaves_no_audit_row(db: Database) -> None:
    _fill(db, 2)
    with pytest.raises(RuntimeError), db.transaction() as s:
        record(s, AuditEvent(actor="t", action="will.fail"))
        raise RuntimeError("boom")
    result = _verify(db)
    assert result.ok and result.rows == 2


def test_concurrent_appends_form_one_chain(db: Database) -> None:
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(20):
                with db.transaction() as s:
                    record(s, AuditEvent(actor=f"thread-{t}", action="thing.do", object_id=str(i)))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    result = _verify(db)
    assert result.ok and result.rows == 160


def test_cli_audit_verify_names_the_bad_row(db: Database, database_url: str, tmp_path: Path) -> None:
    _fill(db, 5)
    env = {"TRUSTSVC_HOME": str(tmp_path / "h"), "DATABASE_URL": database_url}
    ok = CliRunner().invoke(cli, ["audit", "verify"], env=env)
    assert ok.exit_code == 0, ok.output
    assert "intact: 5 rows" in ok.output
    with db.transaction() as s:
        s.execute(update(AuditEventRecord).where(AuditEventRecord.seq == 2).values(actor="mallory"))
    bad = CliRunner().invoke(cli, ["audit", "verify"], env=env)
    assert bad.exit_code == 1
    assert "row 2" in bad.output


def test_verify_streams_in_batches_and_reports_progress(db: Database, database_url: str, tmp_path: Path) -> None:
    _fill(db, 12)
    seen: list[tuple[int, int]] = []
    with db.reader() as s:
        result = verify_chain(s, batch=5, progress=lambda done, total: seen.append((done, total)))
    assert result.ok and result.rows == 12
    assert seen == [(5, 12), (10, 12), (12, 12)]  # one call per batch of 5
    env = {"TRUSTSVC_HOME": str(tmp_path / "h"), "DATABASE_URL": database_url}
    out = CliRunner().invoke(cli, ["audit", "verify"], env=env)
    assert out.exit_code == 0, out.output
    assert "audit rows checked: 12/12" in out.output  # a plain progress line off a terminal


def test_the_hash_is_not_indexed_and_the_migration_keeps_every_row(db: Database) -> None:
    """Migration 0018 drops the unique index on the row hash: nothing reads a row by it, and at
    20 million events it made every append dirty a random page of a 2.4 GB index. On SQLite the
    table is copied without it; rows written before, the chain and the other index come through."""
    from alembic import command
    from sqlalchemy import inspect

    def hash_unique(conn) -> bool:
        found = inspect(conn)
        return any(c["column_names"] == ["hash"] for c in found.get_unique_constraints("audit_log")) or any(
            i["column_names"] == ["hash"] for i in found.get_indexes("audit_log")
        )

    with db.write_engine.begin() as conn:
        command.downgrade(db._alembic(conn), "0017_licence_expiry_listing")
    _fill(db, 5)  # written under the old schema
    with db.write_engine.begin() as conn:
        assert hash_unique(conn)
        command.upgrade(db._alembic(conn), "head")
    with db.write_engine.connect() as conn:
        assert not hash_unique(conn)
        assert "ix_audit_log_action_ts" in {i["name"] for i in inspect(conn).get_indexes("audit_log")}
    _fill(db, 3)
    result = _verify(db)
    assert result.ok and result.rows == 8 and result.bad_seq is None
