"""A licence's status now, and the one rule that turns it into a verdict.

Every verification of something that names a licence (its PDF file, its sealed metadata, a
service code) asks :func:`licence_status` and hands the answer to :func:`add_status_check`, so
the API, the CLI and the pages judge status the same way:

* ``active`` (and within its validity): passed;
* ``revoked``, and ``superseded`` (a newer version replaced it; like CRL reason
  ``superseded``): FAILED / REVOKED;
* ``expired`` (past ``valid_until``): FAILED / EXPIRED;
* ``suspended``: INDETERMINATE / TRY_LATER (it may be reinstated);
* ``unknown`` (a peer region's licence whose status list is missing or stale, see
  :mod:`trustsvc.federation.snapshot`): INDETERMINATE / TRY_LATER with the reason;
* not ours (no record here): the check is skipped with a warning; the caller decides from a
  status list whether anything else is known.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from ca.results import SubIndication

from ..formats.report import ReportBuilder
from ..storage.db import Database
from ..storage.models import LicenceRecord
from ..times import iso_utc, past_in_china
from .identifier import parse_identifier
from .states import LicenceState

__all__ = ["LicenceStatus", "licence_status", "add_status_check", "effective_status"]


@dataclass(frozen=True)
class LicenceStatus:
    identifier: str
    status: str
    """active | suspended | revoked | superseded | expired | unknown"""
    reason: str | None
    changed_at: dt.datetime | None
    valid_until: dt.date | None
    superseded_by: str | None = None


def effective_status(row: LicenceRecord, now: dt.datetime) -> str:
    """The stored status, with an active licence past its last valid day (China time) expired."""
    if row.status == LicenceState.ACTIVE and past_in_china(row.valid_until, now):
        return LicenceState.EXPIRED.value
    return row.status


def licence_status(
    db: Database, identifier: str, *, now: dt.datetime | None = None, status_index: int | None = None
) -> LicenceStatus | None:
    """The licence's status at ``now`` (default: now), or None when this service never issued it.
    ``status_index`` (what a licence file says its index is) is not needed: our records know it."""
    now = now or dt.datetime.now(dt.UTC)
    text = parse_identifier(identifier).text
    with db.reader() as session:
        row = session.execute(select(LicenceRecord).where(LicenceRecord.identifier == text)).scalar_one_or_none()
        if row is None:
            return None
        newer = None
        if row.status == LicenceState.SUPERSEDED:
            newer = session.execute(
                select(LicenceRecord.identifier).where(LicenceRecord.supersedes_id == row.id)
            ).scalar_one_or_none()
        return LicenceStatus(
            identifier=row.identifier,
            status=effective_status(row, now),
            reason=row.status_reason,
            changed_at=row.status_changed_at,
            valid_until=row.valid_until,
            superseded_by=newer,
        )


def add_status_check(
    builder: ReportBuilder, status: LicenceStatus | None, *, identifier: str, name: str = "licence.status"
) -> None:
    """Record the licence status check (and ``status_now``) on ``builder``, by the module's rule."""
    if status is None:
        builder.skipped(name, f"licence {identifier} was not issued here; its status is not known to this service")
        builder.warnings.append(f"the status of licence {identifier} could not be checked here")
        return
    changed_at = status.changed_at
    builder.status_now["licence"] = {
        "identifier": status.identifier,
        "status": status.status,
        "reason": status.reason,
        "changed_at": iso_utc(changed_at) if changed_at is not None else None,
    }
    if status.status == LicenceState.ACTIVE:  # the common case first, with nothing else worded
        builder.passed(name, f"licence {status.identifier} is active")
        return
    why = f" ({status.reason})" if status.reason else ""
    if status.status == LicenceState.REVOKED:
        builder.fail(name, SubIndication.REVOKED, f"licence {status.identifier} is revoked{why}")
    elif status.status == LicenceState.SUPERSEDED:
        newer = f" by {status.superseded_by}" if status.superseded_by else ""
        builder.fail(name, SubIndication.REVOKED, f"licence {status.identifier} was superseded{newer}")
    elif status.status == LicenceState.EXPIRED:
        until = status.valid_until.isoformat() if status.valid_until else "?"
        builder.fail(name, SubIndication.EXPIRED, f"licence {status.identifier} expired after {until}")
    elif status.status == LicenceState.SUSPENDED:
        builder.indeterminate(name, SubIndication.TRY_LATER, f"licence {status.identifier} is suspended{why}")
    elif status.status == LicenceState.UNKNOWN:
        builder.indeterminate(
            name,
            SubIndication.TRY_LATER,
            f"the status of licence {status.identifier} is unknown: {status.reason or 'no source'}",
        )
    else:
        builder.indeterminate(
            name, SubIndication.TRY_LATER, f"licence {status.identifier} has an unknown status {status.status!r}"
        )
