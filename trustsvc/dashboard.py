"""The console dashboard's figures for one scope (a department, or every department of the
region for an admin): licences issued, changed, suspended and revoked per day for the last
90 days, licences by type and status now, and service-code verifications per day.

Every query reads an index range and groups in the database (indexes of migration
0012_dashboard_indexes); only per-hour buckets (at most 90 × 24 per series) come back to
Python, which folds them into China days (UTC+8). Sources:

- issued / changed: the ``licences`` rows themselves (each version is a row: version 1 is an
  issue, a higher version a change or renewal), by ``issued_at``;
- revoked: ``licences`` with status ``revoked`` by ``status_changed_at`` (revocation is final);
- suspended: ``licence.suspend`` audit events (a reinstated licence was still suspended that day);
- verified: ``code.verify`` audit events, written by every keyed verification (the API with a
  verifier key); of this scope's licences, and (whole-region scope) of peer regions' licences
  verified here. Anonymous checks (the public ``/verify`` page) write nothing, so they are not
  counted, and peer regions verify this region's codes offline against its signed lists.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from .storage.models import AuditEventRecord, LicenceRecord

__all__ = ["DAYS", "EVENT_KINDS", "STATUSES", "Dashboard", "dashboard", "china_day"]

DAYS = 90
EVENT_KINDS = ("issued", "changed", "suspended", "revoked")
STATUSES = ("active", "suspended", "revoked", "superseded", "expired")
CHINA = dt.timezone(dt.timedelta(hours=8))


def china_day(at: dt.datetime) -> dt.date:
    return at.astimezone(CHINA).date()


@dataclass(frozen=True)
class Dashboard:
    days: tuple[dt.date, ...]
    """The last ``DAYS`` China days, oldest first; every series below has one value per day."""
    events: dict[str, list[int]]
    """``EVENT_KINDS`` → counts per day."""
    verified_here: list[int]
    """Keyed verifications here of the scope's licences, per day."""
    verified_peer: list[int] | None
    """Keyed verifications here of peer regions' licences per day (whole-region scope only)."""
    by_type: dict[str, dict[str, int]] = field(default_factory=dict)
    """Licence type code → stored status → number of licence versions now."""

    def total(self, series: Sequence[int], *, since: dt.date | None = None) -> int:
        return sum(n for d, n in zip(self.days, series, strict=True) if since is None or d >= since)

    def status_totals(self) -> dict[str, int]:
        out = dict.fromkeys(STATUSES, 0)
        for counts in self.by_type.values():
            for status, n in counts.items():
                out[status] = out.get(status, 0) + n
        return out


def _hour(session: Session, column: Any) -> ColumnElement[str]:
    """``YYYY-MM-DD HH`` (UTC) of a timestamp column, on SQLite and PostgreSQL alike."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD HH24")
    return func.substr(column, 1, 13)  # SQLite keeps UTC as 'YYYY-MM-DD HH:MM:SS…'


def _fold(rows: Any, days: tuple[dt.date, ...]) -> list[int]:
    """Per-hour UTC buckets → counts per China day (hours outside ``days`` dropped)."""
    index = {d: i for i, d in enumerate(days)}
    out = [0] * len(days)
    for hour, n in rows:
        at = dt.datetime.strptime(str(hour)[:13].replace("T", " "), "%Y-%m-%d %H").replace(tzinfo=dt.UTC)
        i = index.get(china_day(at))
        if i is not None:
            out[i] += int(n)
    return out


def _since(days: tuple[dt.date, ...]) -> dt.datetime:
    return dt.datetime.combine(days[0], dt.time(), CHINA).astimezone(dt.UTC)


def _licence_hours(
    session: Session,
    departments: Sequence[int],
    since: dt.datetime,
    *,
    column: Any,
    where: Sequence[ColumnElement[bool]],
) -> Any:
    hour = _hour(session, column)
    q = (
        select(hour, func.count())
        .where(LicenceRecord.department_id.in_(departments), column >= since, *where)
        .group_by(hour)
    )
    return session.execute(q).all()


def _audit_hours(
    session: Session, action: str, since: dt.datetime, departments: Sequence[int] | None, *, peer: bool = False
) -> Any:
    """Hourly counts of an audit action on licences of ``departments`` (None: any local
    licence); ``peer``: on licences that are not this region's."""
    hour = func.substr(AuditEventRecord.ts, 1, 13)
    ts_since = since.isoformat().replace("+00:00", "")[:19]
    q = select(hour, func.count()).where(AuditEventRecord.action == action, AuditEventRecord.ts >= ts_since)
    if peer:
        local = select(LicenceRecord.id).where(LicenceRecord.identifier == AuditEventRecord.object_id)
        q = q.where(AuditEventRecord.object_id != "", ~local.exists())
    else:
        q = q.join(LicenceRecord, LicenceRecord.identifier == AuditEventRecord.object_id)
        if departments is not None:
            q = q.where(LicenceRecord.department_id.in_(departments))
    return session.execute(q.group_by(hour)).all()


def dashboard(
    session: Session,
    departments: Sequence[int],
    *,
    whole_region: bool = False,
    today: dt.date | None = None,
    days: int = DAYS,
) -> Dashboard:
    """The figures for ``departments`` (ids) over the ``days`` China days ending ``today``."""
    today = today or china_day(dt.datetime.now(dt.UTC))
    span = tuple(today - dt.timedelta(days=days - 1 - i) for i in range(days))
    since = _since(span)
    deps = list(departments)
    events = {
        "issued": _fold(
            _licence_hours(session, deps, since, column=LicenceRecord.issued_at, where=[LicenceRecord.version == 1]),
            span,
        ),
        "changed": _fold(
            _licence_hours(session, deps, since, column=LicenceRecord.issued_at, where=[LicenceRecord.version > 1]),
            span,
        ),
        "suspended": _fold(_audit_hours(session, "licence.suspend", since, deps), span),
        "revoked": _fold(
            _licence_hours(
                session, deps, since, column=LicenceRecord.status_changed_at, where=[LicenceRecord.status == "revoked"]
            ),
            span,
        ),
    }
    verified_here = _fold(_audit_hours(session, "code.verify", since, None if whole_region else deps), span)
    verified_peer = _fold(_audit_hours(session, "code.verify", since, None, peer=True), span) if whole_region else None
    by_type: dict[str, dict[str, int]] = {}
    q = (
        select(LicenceRecord.type_code, LicenceRecord.status, func.count())
        .where(LicenceRecord.department_id.in_(deps))
        .group_by(LicenceRecord.type_code, LicenceRecord.status)
    )
    for type_code, status, n in session.execute(q).all():
        by_type.setdefault(type_code, {})[status] = int(n)
    return Dashboard(
        days=span, events=events, verified_here=verified_here, verified_peer=verified_peer, by_type=by_type
    )
