"""Database engines and transactions: SQLite (WAL) by default, PostgreSQL via ``DATABASE_URL``.

Every write runs in one transaction (:meth:`Database.transaction`); on SQLite that transaction
starts with ``BEGIN IMMEDIATE`` so concurrent writers queue on the lock instead of failing
half-way with a stale snapshot. Reads use a separate engine with ordinary deferred
transactions, so verification never waits for issuance.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, InvalidatePoolError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ..errors import ConfigurationError
from ..private_files import private_database_file
from .models import Region
from .trust_version import read_trust_version, watch_trust_changes

__all__ = ["Database", "normalise_url"]

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` / ``postgres://`` URLs."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _sqlite_engine(url: str, *, immediate: bool) -> Engine:
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


PING_IDLE_S = 5.0
"""A pooled PostgreSQL connection idle longer than this is pinged before use."""


def _ping_when_idle(engine: Engine, idle: float) -> None:
    """Ping a pooled connection at checkout only when it sat idle for ``idle`` seconds.

    ``pool_pre_ping`` pings at every checkout: a round trip per transaction, two of the ~17 an
    issuance makes. A connection returned a moment ago is as alive as a ping could show; the one
    that sat idle across a server restart or a firewall's timeout is the one a ping saves, and a
    dead one is replaced before the request uses it, with every other pooled connection
    (InvalidatePoolError, as pool_pre_ping does: a dead one most often means a server restart)."""

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since < idle:
            return  # new, or back in the pool a moment ago
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as exc:
            if engine.dialect.is_disconnect(exc, dbapi_conn, None):
                raise InvalidatePoolError() from exc  # likely a restart: every pooled connection is renewed
            raise


class Database:
    """Engines and session factories for one database URL."""

    def __init__(self, url: str, *, pool_size: int = 10, ping_idle: float = PING_IDLE_S) -> None:
        self.url = normalise_url(url)
        try:
            parsed = make_url(self.url)
        except ArgumentError as exc:
            raise ConfigurationError(f"invalid database URL: {exc}") from exc
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
                private_database_file(Path(parsed.database))  # 0600 before SQLite makes it, -wal/-shm alike
            self.write_engine = _sqlite_engine(self.url, immediate=True)
            self.read_engine = _sqlite_engine(self.url, immediate=False)
        elif self.dialect == "postgresql":
            self.write_engine = create_engine(self.url, pool_size=pool_size)
            _ping_when_idle(self.write_engine, ping_idle)
            # the same pool; a reader's transaction is BEGIN READ ONLY (no extra round trip)
            self.read_engine = self.write_engine.execution_options(postgresql_readonly=True)
        else:
            raise ConfigurationError(f"unsupported database {self.dialect!r}: use sqlite or postgresql")
        self._write = sessionmaker(self.write_engine, expire_on_commit=False)
        watch_trust_changes(self._write, self.url)
        self._read = sessionmaker(self.read_engine, expire_on_commit=False)
        self.closed = False
        self._region_code: str | None = None

    def redacted_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    def region_code(self) -> str:
        """This database's region code, read once: a region's code never changes after
        ``trustsvc init``. ``""`` before that (and read again next time)."""
        if self._region_code is None:
            with self.reader() as session:
                code = session.execute(select(Region.code)).scalars().first()
            if code is None:
                return ""
            self._region_code = code
        return self._region_code

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write session: commits on success, rolls back on any exception."""
        with self._write() as session, session.begin():
            yield session

    @contextlib.contextmanager
    def reader(self) -> Iterator[Session]:
        """A read-only session. Closing it ends the transaction; rows read stay usable afterwards
        as detached objects.

        On PostgreSQL the transaction is READ ONLY (a write in it fails) and ends with COMMIT,
        also when the caller raises one of our errors (a 404, a refused token): psycopg forgets
        every prepared statement of the connection at a ROLLBACK, so readers that rolled back
        kept the hot statements from ever being prepared (and cost a DEALLOCATE ALL). A database
        error still rolls back. On SQLite a reader writes nothing to commit and rolls back."""
        with self._read() as session:
            try:
                yield session
            except SQLAlchemyError:
                raise
            except BaseException:
                self._end_read(session)
                raise
            self._end_read(session)

    def _end_read(self, session: Session | Connection) -> None:
        if self.dialect != "postgresql" or not session.in_transaction():
            return
        try:
            session.commit()  # READ ONLY: nothing to lose; keeps psycopg's prepared statements
        except SQLAlchemyError as exc:  # the reads are done; closing rolls back or drops the connection
            log.warning("a read-only transaction did not commit: %s", exc)

    # -- migrations -------------------------------------------------------------------------
    def _alembic(self, connection: Any) -> AlembicConfig:
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = connection
        return cfg

    def migrate(self) -> None:
        """Bring the schema to the newest migration (idempotent)."""
        with self.write_engine.begin() as conn:
            command.upgrade(self._alembic(conn), "head")

    @functools.cached_property
    def _head_revisions(self) -> frozenset[str]:
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        return frozenset(ScriptDirectory.from_config(cfg).get_heads())

    def schema_is_current(self) -> bool:
        """The database is at the newest migration (cheap: one query, heads read once)."""
        with self.read_engine.connect() as conn:
            try:
                current = {row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))}
            except SQLAlchemyError:
                return False
            self._end_read(conn)
        return current == self._head_revisions

    def trust_version(self) -> int:
        """The trust-material counter (one indexed read; see :mod:`.trust_version`)."""
        with self.reader() as session:  # every 0.5 s per process (the snapshot poll)
            return read_trust_version(session)

    def ping(self) -> None:
        with self.read_engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            self._end_read(conn)

    def dispose(self) -> None:
        self.closed = True  # background pollers of this database stop (trustsvc.federation.snapshot_holder)
        self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            self.read_engine.dispose()
