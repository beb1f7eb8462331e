"""The console dashboard's figures for one scope (a department, or every department of the
region for an admin): licences issued, changed, suspended, reinstated and revoked per day for
the last 90 days, licences by type and status now, and verifications per day.

Read only from the aggregate tables of :mod:`trustsvc.dashboard_counts` (kept on write by the
triggers of migration 0014_dashboard_aggregates, and by :mod:`trustsvc.verification_counter`):
at most 90 days × types × events rows per department, however many licences are stored.

- issued / changed: a version-1 row / a later version (a change or renewal), by ``issued_at``;
- suspended / reinstated / revoked: status changes, by ``status_changed_at``;
- by type and status: the stored status, with an active licence past its last valid day (China
  time) counted as expired, as the status checks report it;
- verified here: every verification on this service (API and /verify page, keyed or not) of the
  scope's licences; whole-region scope also of peer regions' licences;
- peer regions: peers verify our licences offline, against the status lists they fetch from us;
  the fetches of the scope's lists, per requesting region, are what this service can see, and
  the scope's licences a peer redeemed here by holder code (online, with its peer key).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .dashboard_counts import (
    Channel,
    LicenceEvent,
    licence_active_until,
    licence_day_counts,
    licence_status_counts,
    verification_day_counts,
)
from .storage.db import Database
from .storage.models import Department, TrustPeerRecord

__all__ = [
    "DAYS",
    "EVENT_KINDS",
    "STATUSES",
    "Dashboard",
    "DepartmentChoice",
    "dashboard",
    "china_day",
    "department_choices",
    "peer_region_names",
    "read_dashboard",
]

DAYS = 90
EVENT_KINDS = tuple(e.value for e in LicenceEvent)
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
    """Verifications here of the scope's licences, per day."""
    verified_peer: list[int] | None
    """Verifications here of peer regions' licences per day (whole-region scope only)."""
    by_type: dict[str, dict[str, int]] = field(default_factory=dict)
    """Licence type code → status now → number of licence versions."""
    peer_fetches: dict[str, list[int]] = field(default_factory=dict)
    """Peer region code → fetches of the scope's status lists per day."""
    peer_redeems: dict[str, list[int]] = field(default_factory=dict)
    """Peer region code → the scope's licences it redeemed here by holder code, per day."""

    def total(self, series: Sequence[int], *, since: dt.date | None = None) -> int:
        return sum(n for d, n in zip(self.days, series, strict=True) if since is None or d >= since)

    def status_totals(self) -> dict[str, int]:
        out = dict.fromkeys(STATUSES, 0)
        for counts in self.by_type.values():
            for status, n in counts.items():
                out[status] = out.get(status, 0) + n
        return out


def _events(session: Session, deps: list[int], span: tuple[dt.date, ...]) -> dict[str, list[int]]:
    t = licence_day_counts.c
    index = {d: i for i, d in enumerate(span)}
    out = {k: [0] * len(span) for k in EVENT_KINDS}
    q = (
        select(t.day, t.event, func.sum(t.n))
        .where(t.department_id.in_(deps), t.day >= span[0], t.day <= span[-1])
        .group_by(t.day, t.event)
    )
    for day, event, n in session.execute(q):
        i = index.get(day)
        if i is not None and event in out:
            out[event][i] += int(n)
    return out


def _by_type(session: Session, deps: list[int], today: dt.date) -> dict[str, dict[str, int]]:
    s, u = licence_status_counts.c, licence_active_until.c
    by_type: dict[str, dict[str, int]] = {}
    q = select(s.type_code, s.status, func.sum(s.n)).where(s.department_id.in_(deps)).group_by(s.type_code, s.status)
    for type_code, status, n in session.execute(q):
        if int(n):
            by_type.setdefault(type_code, {})[status] = int(n)
    expired = (
        select(u.type_code, func.sum(u.n)).where(u.department_id.in_(deps), u.valid_until < today).group_by(u.type_code)
    )
    for type_code, n in session.execute(expired):
        if int(n):
            counts = by_type.setdefault(type_code, {})
            counts["active"] = counts.get("active", 0) - int(n)
            counts["expired"] = counts.get("expired", 0) + int(n)
            if not counts["active"]:
                del counts["active"]
    return by_type


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
    deps = list(departments)
    usccs = {row.uscc: row.id for row in session.execute(select(Department.uscc, Department.id))}
    mine = {u for u, i in usccs.items() if i in deps}
    index = {d: i for i, d in enumerate(span)}
    here = [0] * len(span)
    peer = [0] * len(span)
    fetches: dict[str, list[int]] = {}
    redeems: dict[str, list[int]] = {}
    v = verification_day_counts.c
    q = (
        select(v.day, v.issuer, v.verifier, v.channel, func.sum(v.n))
        .where(v.day >= span[0], v.day <= span[-1])
        .group_by(v.day, v.issuer, v.verifier, v.channel)
    )
    for day, issuer, verifier, channel, n in session.execute(q):
        i = index.get(day)
        if i is None:
            continue
        if channel == Channel.VERIFY and not verifier:
            if issuer in mine:
                here[i] += int(n)
            elif issuer not in usccs:
                peer[i] += int(n)
        elif verifier and issuer in mine:
            into = fetches if channel == Channel.STATUS_LIST else redeems if channel == Channel.REDEEM else None
            if into is not None:
                into.setdefault(verifier, [0] * len(span))[i] += int(n)
    return Dashboard(
        days=span,
        events=_events(session, deps, span),
        verified_here=here,
        verified_peer=peer if whole_region else None,
        by_type=_by_type(session, deps, today),
        peer_fetches=dict(sorted(fetches.items())),
        peer_redeems=dict(sorted(redeems.items())),
    )


@dataclass(frozen=True)
class DepartmentChoice:
    """A department the dashboard can be scoped to."""

    id: int
    uscc: str
    name: str


def department_choices(db: Database) -> list[DepartmentChoice]:
    """Every department, oldest first (the console's scope picker and an issuer's own scope)."""
    with db.reader() as session:
        rows = session.execute(select(Department.id, Department.uscc, Department.name).order_by(Department.id))
        return [DepartmentChoice(r.id, r.uscc, r.name) for r in rows]


def peer_region_names(db: Database) -> dict[str, str]:
    """Peer region code -> the name its trust list gives (for the peer activity table)."""
    with db.reader() as session:
        rows = session.execute(select(TrustPeerRecord.region_code, TrustPeerRecord.region_name))
        return {row[0]: row[1] for row in rows}


def read_dashboard(db: Database, departments: Sequence[int], *, whole_region: bool = False) -> Dashboard:
    """:func:`dashboard` in its own read transaction (what the console page calls)."""
    with db.reader() as session:
        return dashboard(session, departments, whole_region=whole_region)
