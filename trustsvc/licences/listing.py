"""Listing licences for the console and ``GET /api/v1/licences``, scoped by who asks.

An issuer sees its own department's licences, an admin every department's (optionally one),
and nobody else may list: a verifier looks licences up by identifier, it does not browse them.
Pages are keyset-paged newest first (by row id) with an opaque cursor, so a page stays stable
while licences are being issued.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, literal_column, or_, select
from sqlalchemy.orm import defer

from ..apikeys import Principal, Role
from ..context import TrustService
from ..errors import InvalidInputError, PermissionDeniedError
from ..storage.models import AuditEventRecord, Department, LicenceRecord
from .service import china_today
from .states import LICENCE_STATES

__all__ = [
    "LICENCE_STATUSES",
    "MAX_LIMIT",
    "LicencePage",
    "list_licences",
    "page_statement",
    "encode_cursor",
    "decode_cursor",
    "HistoryEntry",
    "licence_history",
]

LICENCE_STATUSES = tuple(s.value for s in LICENCE_STATES)
"""The statuses a licence can be in now (``expired`` is an active one past its end date)."""
MAX_LIMIT = 200
_MAX_QUERY = 100


@dataclass(frozen=True)
class LicencePage:
    items: tuple[LicenceRecord, ...]
    next_cursor: str | None
    """Pass back as ``cursor`` for the next page; None on the last page."""


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode("ascii")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The row id a cursor continues after; :raises InvalidInputError: ``invalid_cursor``."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        kind, _, value = raw.partition(":")
        if kind != "id" or not value.isdigit() or len(value) > 18:
            raise ValueError(raw)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInputError(
            "cursor is not one this service handed out", code="invalid_cursor", field="cursor"
        ) from None


def _like(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, with its wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _status_filter(stmt: Select[Any], status: str) -> Select[Any]:
    today = china_today()
    if status == "expired":
        # the predicate of the partial expiry index (migration 0017), as a literal for the same
        # reasons as the status indexes' below, and today's date as a literal too: planned for
        # any date, PostgreSQL guesses a third of the licences expired and walks the primary
        # key; it reads the expired range of the index instead of every licence for the few
        # whose end date has passed
        return stmt.where(
            LicenceRecord.status == literal_column("'active'"),
            LicenceRecord.valid_until.is_not(None),
            LicenceRecord.valid_until < literal_column(f"'{today.isoformat()}'"),
        )
    if status == "active":
        return stmt.where(
            LicenceRecord.status == "active",
            or_(LicenceRecord.valid_until.is_(None), LicenceRecord.valid_until >= today),
        )
    # the predicate of the partial status indexes (migration 0016), said again so that SQLite
    # uses them too (it only takes a partial index whose condition the query contains), and as
    # a literal, not a parameter: PostgreSQL's generic plan of a prepared statement (psycopg
    # prepares it at its fifth run) cannot prove a parameter's value differs from 'active'
    return stmt.where(LicenceRecord.status == status, LicenceRecord.status != literal_column("'active'"))


def page_statement(
    *,
    status: str | None = None,
    type_code: str | None = None,
    q: str | None = None,
    department_uscc: str | None = None,
    after: int | None = None,
    limit: int = 50,
    dialect: str | None = None,
) -> Select[Any]:
    """The SELECT of one page (``limit + 1`` rows, to tell whether another follows), filters
    already checked by :func:`list_licences`, for the database ``dialect`` names (``sqlite``
    changes the region's expired pages; None, or any other, is the plain form); apart so its
    plan can be shown (bench/scale.py and the tests EXPLAIN it)."""
    # a page shows no signature: its column is not read. A department's keyset page walks
    # ix_licences_department_id (the department's id read first so the planner sees a
    # constant); a page of suspended, revoked or superseded licences walks a partial status
    # index (ix_licences_status_id, or ix_licences_department_status_id for one department),
    # a page of expired ones the expired range of ix_licences_expiry_id
    stmt = select(LicenceRecord).options(defer(LicenceRecord.signature_stored))
    if department_uscc is not None:
        stmt = stmt.where(
            LicenceRecord.department_id
            == select(Department.id).where(Department.uscc == department_uscc.strip().upper()).scalar_subquery()
        )
    if status is not None:
        stmt = _status_filter(stmt, status)
    if type_code:
        stmt = stmt.where(LicenceRecord.type_code == type_code.strip())
    if q and q.strip():
        text = q.strip()
        stmt = stmt.where(
            or_(
                LicenceRecord.identifier.like(_like(text.upper()), escape="\\"),
                LicenceRecord.holder_name.like(_like(text), escape="\\"),
                LicenceRecord.holder_id == text.upper(),
            )
        )
    if after is not None:
        # SQLite keeps no histograms: past the first page of the region's expired licences it
        # would rather walk the primary key from the cursor, through every licence, than sort
        # the rows of the expired range. ``id + 0`` is no key range, so it reads the expiry
        # index (PostgreSQL weighs both). Not for one department: its index takes the cursor
        # as a range, and without it SQLite would start from the department's newest licence
        region_expired = status == "expired" and dialect == "sqlite" and department_uscc is None
        key = LicenceRecord.id + 0 if region_expired else LicenceRecord.id
        stmt = stmt.where(key < after)
    stmt = stmt.order_by(LicenceRecord.id.desc()).limit(limit + 1)
    return stmt


def list_licences(
    service: TrustService,
    principal: Principal,
    *,
    status: str | None = None,
    type_code: str | None = None,
    q: str | None = None,
    department_uscc: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> LicencePage:
    """One page of licences the principal may see, newest first.

    :param status: one of :data:`LICENCE_STATUSES`, as the licence stands today.
    :param q: text found in the identifier or the holder's name, or the holder's exact id.
    :param department_uscc: admins only: one department's licences.
    :raises PermissionDeniedError: ``role_not_allowed`` for verifier and peer keys;
        ``other_department`` when an issuer names another department.
    :raises InvalidInputError: a bad filter, limit or cursor (``code`` and ``field`` say which).
    """
    if principal.role is Role.ISSUER:
        if department_uscc is not None and department_uscc.strip().upper() != principal.department_uscc:
            raise PermissionDeniedError(
                "an issuer key lists only its own department's licences", code="other_department"
            )
        department_uscc = principal.department_uscc
    elif principal.role is not Role.ADMIN:
        raise PermissionDeniedError(f"a {principal.role.value} key may not list licences", code="role_not_allowed")
    if status is not None and status not in LICENCE_STATUSES:
        raise InvalidInputError(
            f"status must be one of {', '.join(LICENCE_STATUSES)}", code="invalid_status", field="status"
        )
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInputError(f"limit must be 1..{MAX_LIMIT}", code="invalid_limit", field="limit")
    if q is not None and len(q) > _MAX_QUERY:
        raise InvalidInputError(f"q has at most {_MAX_QUERY} characters", code="field_too_long", field="q")
    after = decode_cursor(cursor) if cursor else None

    stmt = page_statement(
        status=status,
        type_code=type_code,
        q=q,
        department_uscc=department_uscc,
        after=after,
        limit=limit,
        dialect=service.db.write_engine.dialect.name,
    )
    with service.db.reader() as session:
        rows = list(session.execute(stmt).unique().scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return LicencePage(items=tuple(rows), next_cursor=encode_cursor(rows[-1].id) if more and rows else None)


@dataclass(frozen=True)
class HistoryEntry:
    """One lifecycle event of a licence, as the audit log recorded it."""

    at: str
    action: str
    """``licence.issue``, ``licence.suspend``, ``licence.reinstate``, ``licence.revoke``,
    ``licence.change`` or ``licence.renew``."""
    actor: str
    reason: str | None
    detail: str | None
    """For a change or renewal: the version it superseded."""


def licence_history(service: TrustService, identifier: str) -> tuple[HistoryEntry, ...]:
    """The licence's events, oldest first. The audit log is the record of what happened to a
    licence, so the history is read from it rather than kept twice. Callers check access to
    the licence first."""
    with service.db.reader() as session:
        rows = (
            session.execute(
                select(AuditEventRecord)
                .where(AuditEventRecord.object_type == "licence", AuditEventRecord.object_id == identifier)
                .order_by(AuditEventRecord.seq)
            )
            .scalars()
            .all()
        )
    out = []
    for row in rows:
        try:
            details = json.loads(row.details or "{}")
        except ValueError:
            details = {}
        reason = details.get("reason") if isinstance(details, dict) else None
        supersedes = details.get("supersedes") if isinstance(details, dict) else None
        out.append(
            HistoryEntry(
                at=row.ts,
                action=row.action,
                actor=row.actor,
                reason=reason if isinstance(reason, str) else None,
                detail=supersedes if isinstance(supersedes, str) else None,
            )
        )
    return tuple(out)
