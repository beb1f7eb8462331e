"""Seal management (GB/T 38540 电子印章管理): list, show, suspend (挂失), reinstate, revoke (注销),
re-make, and which seal a department's licences are sealed with.

Every status change is kept as an event with the time it takes effect, audited in the same
transaction, and published at once in the region's trust list (``issuers[].seals``): a peer
judges a signature by the seal's status at its signing time (:mod:`trustsvc.formats.seal_status`).
Suspension and revocation take effect now, or for a revocation from an earlier time (when the
seal went missing), never in the future. A revoked seal stays revoked; a suspended one may be
reinstated; a superseded one (re-made on new certificates) is only ever revoked.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ca.certs import parse_certificate

from .audit import AuditEvent, record
from .context import TrustService
from .errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from .formats.seals.parse import parse_seal
from .sealing import (
    SealStatus,
    department_certificates,
    get_seal,
    make_seal_in_session,
    set_default_seal_in_session,
)
from .storage.models import (
    Department,
    DepartmentDefaultSeal,
    SealRecord,
    SealStatusEventRecord,
    utcnow,
)
from .times import iso_utc as _iso

__all__ = [
    "seal_json",
    "list_seals",
    "show_seal",
    "suspend_seal",
    "reinstate_seal",
    "revoke_seal",
    "set_default_seal",
    "change_seal_status_in_session",
    "remake_seal_in_session",
    "publish_after_change",
    "MAX_REASON",
]

MAX_REASON = 500
_SKEW = dt.timedelta(minutes=5)
_ALLOWED_FROM = {
    SealStatus.SUSPENDED: (SealStatus.ACTIVE,),
    SealStatus.ACTIVE: (SealStatus.SUSPENDED,),
    SealStatus.REVOKED: (SealStatus.ACTIVE, SealStatus.SUSPENDED, SealStatus.SUPERSEDED),
    SealStatus.SUPERSEDED: (SealStatus.ACTIVE,),
}
_ACTIONS = {
    SealStatus.SUSPENDED: "suspend",
    SealStatus.ACTIVE: "reinstate",
    SealStatus.REVOKED: "revoke",
    SealStatus.SUPERSEDED: "supersede",
}


def check_reason(reason: str | None, *, required: bool) -> str:
    """A reason as kept and published: 1..500 printable characters (required for a stop)."""
    text = (reason or "").strip()
    if required and not text:
        raise InvalidInputError("say why (reason)", code="reason_required", field="reason")
    if len(text) > MAX_REASON or any(unicodedata.category(c)[0] == "C" for c in text):
        raise InvalidInputError(
            f"reason must be at most {MAX_REASON} printable characters", code="invalid_reason", field="reason"
        )
    return text


def _department_of(session: Session, seal: SealRecord) -> Department:
    dept = session.get(Department, seal.department_id)
    assert dept is not None
    return dept


def _in_scope(dept: Department, department_uscc: str | None) -> None:
    if department_uscc is not None and dept.uscc != department_uscc:
        raise PermissionDeniedError("this seal belongs to another department", code="seal_of_other_department")


def seal_json(session: Session, row: SealRecord) -> dict[str, Any]:
    """A seal as the API and CLI show it: status and its history, whether it is the default,
    and the certificates it binds (maker, listed signers)."""
    dept = _department_of(session, row)
    chosen = session.get(DepartmentDefaultSeal, dept.id)
    events = session.execute(
        select(SealStatusEventRecord)
        .where(SealStatusEventRecord.seal_id == row.id)
        .order_by(SealStatusEventRecord.effective_at, SealStatusEventRecord.id)
    ).scalars()
    parsed = parse_seal(row.der)
    changes = []
    for e in events:
        replaced = session.get(SealRecord, e.replaced_by_id) if e.replaced_by_id is not None else None
        changes.append(
            {
                "status": e.status,
                "effective_at": _iso(e.effective_at),
                "reason": e.reason,
                "actor": e.actor,
                "recorded_at": _iso(e.recorded_at),
                "replaced_by": replaced.esid if replaced is not None else None,
            }
        )
    return {
        "esid": row.esid,
        "name": row.name,
        "type": row.seal_type,
        "department": dept.uscc,
        "version": "v4",
        "status": row.status,
        "default": chosen is not None and chosen.seal_id == row.id,
        "valid_from": _iso(row.valid_start),
        "valid_until": _iso(row.valid_end),
        "created_at": _iso(row.created_at),
        "sha256": row.sha256,
        "maker": parse_certificate(parsed.maker_cert).sha256,
        "signers": [parse_certificate(c).sha256 for c in parsed.cert_list.certs],
        "changes": changes,
    }


def list_seals(
    service: TrustService, *, department: str | None = None, status: str | None = None
) -> list[dict[str, Any]]:
    """Seals, oldest first, optionally of one department (USCC) and one status."""
    if status is not None and status not in {s.value for s in SealStatus}:
        raise InvalidInputError(
            f"status must be one of {', '.join(s.value for s in SealStatus)}", code="invalid_status", field="status"
        )
    with service.db.reader() as session:
        query = select(SealRecord).order_by(SealRecord.id)
        if department is not None:
            dept = session.execute(select(Department).where(Department.uscc == department.upper())).scalar_one_or_none()
            if dept is None:
                raise NotFoundError(f"no department {department}", code="department_not_found")
            query = query.where(SealRecord.department_id == dept.id)
        if status is not None:
            query = query.where(SealRecord.status == status)
        return [seal_json(session, row) for row in session.execute(query).scalars()]


def show_seal(service: TrustService, esid: str) -> dict[str, Any]:
    with service.db.reader() as session:
        return seal_json(session, get_seal(session, esid))


def change_seal_status_in_session(
    session: Session,
    seal: SealRecord,
    to: SealStatus,
    *,
    reason: str,
    actor: str,
    effective_at: dt.datetime,
    replaced_by: SealRecord | None = None,
) -> None:
    """Move ``seal`` to ``to`` from ``effective_at`` (event, status, audit), in the caller's
    transaction. :raises ConflictError: ``invalid_seal_transition``."""
    current = SealStatus(seal.status)
    if current not in _ALLOWED_FROM[to]:
        raise ConflictError(
            f"seal {seal.esid} is {current.value}; it cannot be {_ACTIONS[to]}d", code="invalid_seal_transition"
        )
    seal.status = to.value
    session.add(
        SealStatusEventRecord(
            seal_id=seal.id,
            status=to.value,
            effective_at=effective_at,
            reason=reason,
            replaced_by_id=replaced_by.id if replaced_by is not None else None,
            actor=actor,
            recorded_at=utcnow(),
        )
    )
    session.flush()
    record(
        session,
        AuditEvent(
            actor=actor,
            action=f"seal.{_ACTIONS[to]}",
            object_type="seal",
            object_id=seal.esid,
            details={
                "status": to.value,
                "effective_at": _iso(effective_at),
                "reason": reason,
                "from": current.value,
                "replaced_by": replaced_by.esid if replaced_by is not None else None,
            },
        ),
    )


def publish_after_change(service: TrustService) -> dict[str, Any]:
    """Sign the trust list now, so peers see the change at their next refresh; a failure to
    sign (its signer revoked) is reported, not raised: the change itself is committed."""
    from .federation.trust_lists import current_trust_list

    try:
        published = current_trust_list(service)
    except ConflictError as exc:
        return {"published": False, "code": exc.code, "message": exc.message}
    return {"published": True, "sequence": published.sequence}


def _effective(effective_at: dt.datetime | None, seal: SealRecord, now: dt.datetime) -> dt.datetime:
    if effective_at is None:
        return now
    at = effective_at.astimezone(dt.UTC).replace(microsecond=0)
    if at > now + _SKEW:
        raise InvalidInputError(
            "a seal cannot be stopped in the future", code="invalid_effective_time", field="effective_at"
        )
    return min(max(at, seal.created_at.replace(microsecond=0)), now)


def _stop(
    service: TrustService,
    esid: str,
    to: SealStatus,
    *,
    reason: str | None,
    actor: str,
    effective_at: dt.datetime | None,
    department_uscc: str | None,
) -> dict[str, Any]:
    text = check_reason(reason, required=to is not SealStatus.ACTIVE)
    now = utcnow().replace(microsecond=0)
    with service.db.transaction() as session:
        seal = get_seal(session, esid)
        _in_scope(_department_of(session, seal), department_uscc)
        at = now if to is SealStatus.ACTIVE else _effective(effective_at, seal, now)
        change_seal_status_in_session(session, seal, to, reason=text, actor=actor, effective_at=at)
        shown = seal_json(session, seal)
    return {**shown, "trust_list": publish_after_change(service)}


def suspend_seal(
    service: TrustService, esid: str, *, reason: str | None, actor: str, department_uscc: str | None = None
) -> dict[str, Any]:
    """挂失: stop the seal now (reinstate undoes it); signatures made from now on FAIL."""
    return _stop(
        service,
        esid,
        SealStatus.SUSPENDED,
        reason=reason,
        actor=actor,
        effective_at=None,
        department_uscc=department_uscc,
    )


def reinstate_seal(
    service: TrustService, esid: str, *, reason: str | None, actor: str, department_uscc: str | None = None
) -> dict[str, Any]:
    """Lift a suspension from now on; signatures made while it was suspended still FAIL."""
    return _stop(
        service, esid, SealStatus.ACTIVE, reason=reason, actor=actor, effective_at=None, department_uscc=department_uscc
    )


def revoke_seal(
    service: TrustService,
    esid: str,
    *,
    reason: str | None,
    actor: str,
    effective_at: dt.datetime | None = None,
    department_uscc: str | None = None,
) -> dict[str, Any]:
    """注销: withdraw the seal for good, from now or from ``effective_at`` (when it went missing)."""
    return _stop(
        service,
        esid,
        SealStatus.REVOKED,
        reason=reason,
        actor=actor,
        effective_at=effective_at,
        department_uscc=department_uscc,
    )


def set_default_seal(
    service: TrustService, department: str, esid: str, *, actor: str, department_uscc: str | None = None
) -> dict[str, Any]:
    """Choose the seal ``department``'s licences are sealed with from now on."""
    now = utcnow().replace(microsecond=0)
    with service.db.transaction() as session:
        dept = session.execute(select(Department).where(Department.uscc == department.upper())).scalar_one_or_none()
        if dept is None:
            raise NotFoundError(f"no department {department}", code="department_not_found")
        _in_scope(dept, department_uscc)
        seal = get_seal(session, esid)
        if seal.department_id != dept.id:
            raise ConflictError(f"seal {esid} is not a seal of department {dept.uscc}", code="seal_of_other_department")
        set_default_seal_in_session(session, dept, seal, actor=actor, now=now)
        return seal_json(session, seal)


def remake_seal_in_session(
    service: TrustService,
    session: Session,
    old: SealRecord,
    *,
    actor: str,
    now: dt.datetime,
    old_becomes: SealStatus,
    effective_at: dt.datetime,
    reason: str,
) -> SealRecord:
    """A new seal like ``old`` (name, type, picture, list type) on the department's current
    maker and signer certificates; ``old`` becomes superseded (renewal) or revoked (re-key),
    and the default follows it."""
    dept = _department_of(session, old)
    parsed = parse_seal(old.der)
    chosen = session.get(DepartmentDefaultSeal, dept.id)
    was_default = chosen is not None and chosen.seal_id == old.id
    maker, signer = department_certificates(session, dept)
    new = make_seal_in_session(
        service,
        session,
        dept,
        name=old.name,
        seal_type=old.seal_type,
        cert_list_type=2 if parsed.cert_list.digests else 1,
        picture=parsed.picture,
        valid_from=now,
        valid_until=min(old.valid_end, maker.not_after, signer.not_after),
        now=now,
        actor=actor,
    )
    change_seal_status_in_session(
        session, old, old_becomes, reason=reason, actor=actor, effective_at=effective_at, replaced_by=new
    )
    if was_default:
        set_default_seal_in_session(session, dept, new, actor=actor, now=now)
    return new
