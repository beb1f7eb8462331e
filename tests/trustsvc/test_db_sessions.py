"""Reader and writer sessions: what each may do, and (on PostgreSQL) that readers leave the
connection's prepared statements in place."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from trustsvc.storage import Database
from trustsvc.storage.models import Region


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    out = Database(database_url)
    out.migrate()
    with out.transaction() as s:
        s.add(Region(code="320000", name="江苏省"))
    yield out
    out.dispose()


def test_a_reader_sees_what_was_committed_and_keeps_nothing_it_changed(db: Database) -> None:
    with db.reader() as s:
        region = s.execute(select(Region)).scalar_one()
    assert region.name == "江苏省"  # usable detached
    with db.transaction() as s:
        s.execute(text("UPDATE regions SET name = '江苏'"))
    with db.reader() as s:
        assert s.execute(select(Region.name)).scalar_one() == "江苏"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_reader_on_postgresql_cannot_write(db: Database) -> None:
    with pytest.raises(DBAPIError, match="read-only transaction"), db.reader() as s:
        s.execute(text("UPDATE regions SET name = 'x'"))
    with db.reader() as s:
        assert s.execute(select(Region.name)).scalar_one() == "江苏省"
    with db.transaction() as s:  # the pooled connection is a writer again
        s.execute(text("UPDATE regions SET name = '江苏'"))
    with db.reader() as s:
        assert s.execute(select(Region.name)).scalar_one() == "江苏"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_readers_leave_prepared_statements_in_place_on_postgresql(db: Database) -> None:
    """psycopg prepares a statement on its fifth run and forgets them all at a ROLLBACK; a reader
    that rolled back (as every reader did) kept the hot statements from ever being prepared."""
    query = select(Region.code).where(Region.name == "江苏省")
    for _ in range(6):
        with db.reader() as s:
            assert s.execute(query).scalar_one() == "320000"
    with db.reader() as s:
        prepared = s.execute(
            text("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%FROM regions%'")
        ).scalar_one()
    assert prepared == 1


def _backend_pid(db: Database) -> int:
    with db.reader() as s:
        return int(s.execute(text("SELECT pg_backend_pid()")).scalar_one())


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_connection_used_a_moment_ago_is_not_pinged(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    pings: list[object] = []
    real = db.write_engine.dialect.do_ping

    def counted(conn: Any) -> bool:
        pings.append(conn)
        return bool(real(conn))

    monkeypatch.setattr(db.write_engine.dialect, "do_ping", counted)
    for _ in range(5):
        _backend_pid(db)
        with db.transaction() as s:
            s.execute(text("UPDATE regions SET name = name"))
    assert pings == []  # pool_pre_ping sent ten


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_an_idle_connection_whose_server_side_died_is_replaced_before_use(database_url: str) -> None:
    """The case a ping is for: the connection sat in the pool while its backend went away (a
    server restart, a proxy's idle timeout); the next request gets a fresh one, not an error."""
    db = Database(database_url, ping_idle=0.05)
    try:
        db.migrate()
        first = _backend_pid(db)
        with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as admin:
            assert admin.execute("SELECT pg_terminate_backend(%s)", (first,)).fetchone() == (True,)
        time.sleep(0.1)
        second = _backend_pid(db)
        assert second != first
    finally:
        db.dispose()


def _prepared_regions(db: Database) -> int:
    with db.reader() as s:
        return int(
            s.execute(
                text("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%FROM regions%'")
            ).scalar_one()
        )


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_reader_ended_by_our_error_or_the_trust_poll_keeps_prepared_statements(db: Database) -> None:
    """A 404 or a refused token raised inside a reader, and the trust-version poll (every 0.5 s a
    process), end their transaction without the ROLLBACK that makes psycopg forget them all."""
    query = select(Region.code).where(Region.name == "江苏省")
    for _ in range(6):
        with db.reader() as s:
            s.execute(query).scalar_one()
    assert _prepared_regions(db) == 1
    with pytest.raises(LookupError), db.reader() as s:
        s.execute(query).scalar_one()
        raise LookupError("no such licence")  # as NotFoundError does in a request
    for _ in range(3):
        db.trust_version()
    assert db.schema_is_current()
    db.ping()
    assert _prepared_regions(db) == 1


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_database_error_in_a_reader_still_rolls_back(db: Database) -> None:
    with pytest.raises(DBAPIError), db.reader() as s:
        s.execute(text("SELECT * FROM no_such_table"))
    with db.reader() as s:  # the connection is usable again
        assert s.execute(select(Region.code)).scalar_one() == "320000"
