"""Many rows into one table with PostgreSQL ``COPY`` (psycopg 3 ``cursor.copy``), inside the
caller's transaction.

A multi-row ``INSERT`` has every value rendered and bound by SQLAlchemy and parsed by the server;
``COPY`` streams the rows as they are, several times cheaper per row. Batches of imported
licences and their audit events use it; small batches and SQLite keep the ``INSERT`` (COPY's
own round trips cost more than they save for a handful of rows).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from sqlalchemy import JSON, Table, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .models import UTCDateTime

__all__ = ["COPY_MIN", "can_copy", "allocate_ids", "copy_rows"]

COPY_MIN = 32
"""Fewest rows worth a COPY."""


def can_copy(session: Session, rows: int) -> bool:
    return rows >= COPY_MIN and session.get_bind().dialect.name == "postgresql"


def allocate_ids(session: Session, table: Table, column: str, n: int) -> list[int]:
    """``n`` values of ``table.column``'s sequence, in order (what the INSERT would have taken)."""
    return [
        int(v)
        for v in session.execute(
            text("SELECT nextval(pg_get_serial_sequence(:t, :c)) FROM generate_series(1, :n) ORDER BY 1"),
            {"t": table.name, "c": column, "n": n},
        ).scalars()
    ]


def _converter(column: Any) -> Any:
    if isinstance(column.type, JSON):
        return lambda v: None if v is None else json.dumps(v)  # what SQLAlchemy's JSON type writes
    if isinstance(column.type, UTCDateTime):
        return lambda v: None if v is None else v.astimezone(dt.UTC)
    return None


def copy_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write ``rows`` (dicts keyed by column name, all with the same keys) with COPY on the
    session's connection, so they commit or roll back with the transaction."""
    if not rows:
        return
    names = list(rows[0])
    convert = [_converter(table.c[name]) for name in names]
    raw = session.connection().connection.driver_connection
    assert raw is not None
    columns = ", ".join(f'"{name}"' for name in names)
    statement = f'COPY "{table.name}" ({columns}) FROM STDIN'
    try:
        with raw.cursor() as cur, cur.copy(statement) as cp:
            for row in rows:
                cp.write_row([row[n] if f is None else f(row[n]) for n, f in zip(names, convert, strict=True)])
    except psycopg.errors.IntegrityError as exc:  # as an INSERT's would be: callers retry on it
        raise IntegrityError(statement, None, exc) from exc
