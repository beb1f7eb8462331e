"""Online verification of a service code (the 苏服码 pattern, made verifiable): live licence
status from this service's records, single use of dynamic codes, and the verifier and purpose
in the audit log.

* With a verifier (``actor``), a dynamic code is *used*: one ``UPDATE … WHERE used_at IS
  NULL`` in the same transaction as the audit event, so of two concurrent verifications exactly
  one passes; the second is FAILED / ALREADY_USED. Every keyed verification is audited (actor,
  purpose, verdict), whatever the verdict.
* Anonymous (no key, e.g. the public ``/verify`` page): nothing is written; a dynamic code
  already used is FAILED, an unused one passes with a warning that it was not used up.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ca.results import FORMAT_FAILURE, TRY_LATER, Indication
from hsm.errors import TrustSvcError

from ..audit import AuditEvent, record
from ..licences.status import add_status_check, licence_status
from ..report import ReportBuilder, VerificationReport
from ..storage import Database
from ..storage.models import LicenceRecord, ServiceCodeRecord, utcnow
from .format import DYNAMIC, DecodedCode
from .material import CodeTrust, code_trust_from_db
from .verify import ALREADY_USED, verify_code_common

__all__ = ["verify_code_online", "use_code_once", "peek_code_use"]


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _code_row(session: Session, code: DecodedCode) -> ServiceCodeRecord | None:
    assert code.claims.nonce is not None
    return session.execute(
        select(ServiceCodeRecord).join(LicenceRecord, LicenceRecord.id == ServiceCodeRecord.licence_id)
        .where(ServiceCodeRecord.nonce == code.claims.nonce.hex(), LicenceRecord.identifier == code.claims.sub)
    ).scalar_one_or_none()


def _use(session: Session, builder: ReportBuilder, code: DecodedCode, *, actor: str, purpose: str | None,
         now: dt.datetime) -> None:
    """Use the dynamic code up, atomically; record the outcome as ``code.single_use``."""
    row = _code_row(session, code)
    if row is None:
        builder.indeterminate("code.single_use", TRY_LATER,
                              "this dynamic code is not recorded here; its single use cannot be checked")
        return
    if builder.build().indication is not Indication.PASSED:
        builder.skipped("code.single_use", "not used up: the code did not pass")
        return
    done = session.execute(
        update(ServiceCodeRecord).where(ServiceCodeRecord.id == row.id, ServiceCodeRecord.used_at.is_(None))
        .values(used_at=now, used_by=actor, purpose=purpose)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount == 1:  # type: ignore[attr-defined]
        builder.passed("code.single_use", "dynamic code used now (single use)")
    else:
        session.refresh(row)
        when = f" at {_iso(row.used_at)}" if row.used_at else ""
        builder.fail("code.single_use", ALREADY_USED, f"this dynamic code was already used{when} (一码一用)")


def _peek(session: Session, builder: ReportBuilder, code: DecodedCode) -> None:
    row = _code_row(session, code)
    if row is None:
        builder.indeterminate("code.single_use", TRY_LATER,
                              "this dynamic code is not recorded here; its single use cannot be checked")
    elif row.used_at is not None:
        builder.fail("code.single_use", ALREADY_USED, f"this dynamic code was already used at {_iso(row.used_at)}")
    else:
        builder.warn("code.single_use", "not used up: only a verification with a verifier key uses a dynamic code")


def verify_code_online(db: Database, text: Any, *, actor: str | None = None, purpose: str | None = None,
                       now: dt.datetime | None = None, material: CodeTrust | None = None) -> VerificationReport:
    """Verify a code against this service's records (see the module docstring).

    :param actor: the verifier (``apikey:<id>``); None verifies anonymously (nothing written).
    :param purpose: why the verifier checks the code (kept with the use and in the audit log).
    """
    now = now or utcnow()
    material = material or code_trust_from_db(db)
    builder, code = verify_code_common(text, material=material, now=now)
    if code is not None:
        try:
            add_status_check(builder, licence_status(db, code.claims.sub, now=now), identifier=code.claims.sub)
        except TrustSvcError as exc:
            builder.fail("licence.status", FORMAT_FAILURE, f"the code's licence identifier is invalid: {exc.message}")
    if actor is None:
        if code is not None and code.claims.typ == DYNAMIC:
            with db.reader() as session:
                _peek(session, builder, code)
        return builder.build()
    with db.transaction() as session:
        if code is not None and code.claims.typ == DYNAMIC:
            _use(session, builder, code, actor=actor, purpose=purpose, now=now)
        report = builder.build()
        record(session, AuditEvent(
            actor=actor, action="code.verify", object_type="licence",
            object_id=code.claims.sub if code is not None else "",
            details={"purpose": purpose, "type": code.claims.typ if code else None,
                     "nonce": code.claims.nonce.hex() if code and code.claims.nonce else None,
                     "indication": report.indication.value, "sub_indication": report.sub_indication}))
    return report


use_code_once = _use
"""Use a dynamic code up inside the caller's transaction (see :func:`verify_code_online`)."""
peek_code_use = _peek
"""Say whether a dynamic code was used, writing nothing (anonymous verification)."""
