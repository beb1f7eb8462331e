"""The online extras of a service-code verification (the 苏服码 pattern, made verifiable),
used by the region verifier (:func:`trustsvc.verifier.verify_code` with ``online=``): single use
of this region's dynamic codes.

* With a verifier (``actor``), a dynamic code is *used*: one ``UPDATE … WHERE used_at IS
  NULL`` in the same transaction as the audit event, so of two concurrent verifications exactly
  one passes; the second is FAILED / ALREADY_USED. Every keyed verification is audited (actor,
  purpose, verdict), whatever the verdict.
* Anonymous (no key, e.g. the public ``/verify`` page): nothing is written; a dynamic code
  already used is FAILED, an unused one passes with a warning that it was not used up.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ca.results import TRY_LATER, Indication
from trustsvc.times import iso_utc

from ..formats.report import ReportBuilder
from ..storage.models import LicenceRecord, ServiceCodeRecord
from .format import DecodedCode
from .verify import ALREADY_USED

__all__ = ["use_code_once", "peek_code_use"]


def _code_row(session: Session, code: DecodedCode) -> ServiceCodeRecord | None:
    assert code.claims.nonce is not None
    return session.execute(
        select(ServiceCodeRecord)
        .join(LicenceRecord, LicenceRecord.id == ServiceCodeRecord.licence_id)
        .where(ServiceCodeRecord.nonce == code.claims.nonce.hex(), LicenceRecord.identifier == code.claims.sub)
    ).scalar_one_or_none()


def _use(
    session: Session, builder: ReportBuilder, code: DecodedCode, *, actor: str, purpose: str | None, now: dt.datetime
) -> None:
    """Use the dynamic code up, atomically; record the outcome as ``code.single_use``."""
    row = _code_row(session, code)
    if row is None:
        builder.indeterminate(
            "code.single_use", TRY_LATER, "this dynamic code is not recorded here; its single use cannot be checked"
        )
        return
    if builder.build().indication is not Indication.PASSED:
        builder.skipped("code.single_use", "not used up: the code did not pass")
        return
    done = session.execute(
        update(ServiceCodeRecord)
        .where(ServiceCodeRecord.id == row.id, ServiceCodeRecord.used_at.is_(None))
        .values(used_at=now, used_by=actor, purpose=purpose)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount == 1:  # type: ignore[attr-defined]
        builder.passed("code.single_use", "dynamic code used now (single use)")
    else:
        session.refresh(row)
        when = f" at {iso_utc(row.used_at)}" if row.used_at else ""
        builder.fail("code.single_use", ALREADY_USED, f"this dynamic code was already used{when} (一码一用)")


def _peek(session: Session, builder: ReportBuilder, code: DecodedCode) -> None:
    row = _code_row(session, code)
    if row is None:
        builder.indeterminate(
            "code.single_use", TRY_LATER, "this dynamic code is not recorded here; its single use cannot be checked"
        )
    elif row.used_at is not None:
        builder.fail("code.single_use", ALREADY_USED, f"this dynamic code was already used at {iso_utc(row.used_at)}")
    else:
        builder.warn("code.single_use", "not used up: only a verification with a verifier key uses a dynamic code")


use_code_once = _use
"""Use a dynamic code up inside the caller's transaction (see the module docstring)."""
peek_code_use = _peek
"""Say whether a dynamic code was used, writing nothing (anonymous verification)."""
