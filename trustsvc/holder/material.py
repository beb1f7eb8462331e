"""What verifying a presentation or holder code relies on, behind one small interface.

Two kinds of signer are looked up by kid: the region's code signers (the envelope) and each
issuer's department signers (the MSOs). A department signer counts only for *its own* issuer:
an MSO naming issuer X verifies only under a signer certificate held for X, and its path is
judged with the trust that vouches for X, so one department (or one region) cannot speak for
another's licences.

:class:`MaterialHolderTrust` builds on the service-code material
(:class:`~trustsvc.codes.material.CodeTrust`: anchors, CAs, code signers, held status lists)
plus the issuers' signer certificates; status comes from the live records (online) or from the
issuers' signed status lists (offline).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import select

from ca.results import TRUST_LIST_STALE, TRY_LATER, Indication
from hsm.errors import TrustSvcError
from trustsvc.times import iso_utc

from ..codes.format import kid_for
from ..codes.material import CodeTrust, code_trust_from_db
from ..formats.trust import TrustContext
from ..licences.identifier import parse_identifier
from ..licences.status import LicenceStatus, licence_status
from ..storage import Database
from ..storage.models import CertificateRecord, Department

__all__ = ["StatusAnswer", "HolderTrust", "MaterialHolderTrust", "holder_trust_from_db", "department_signers"]


@dataclass(frozen=True)
class StatusAnswer:
    """A licence's status as a source knows it."""

    status: LicenceStatus | None
    """None with no ``problem``: the source never heard of the licence."""
    summary: Mapping[str, Any] | None = None
    """What ``status_now.status_list`` says about the list used (offline)."""
    problem: tuple[str, str] | None = None
    """(sub-indication, why) when the status cannot be decided (no list, stale, untrusted)."""


class HolderTrust(Protocol):
    @property
    def source(self) -> str: ...

    def code_signers(self, kid: bytes) -> Sequence[tuple[bytes, TrustContext]]:
        """Code-signer certificates with that kid, each with the trust its path is judged in."""
        ...

    def issuer_signers(self, issuer: str, kid: bytes) -> Sequence[tuple[bytes, TrustContext]]:
        """Signer certificates of issuer ``issuer`` with that kid, each with its trust."""
        ...

    def licence_status(self, identifier: str, status_index: int, now: dt.datetime) -> StatusAnswer: ...

    def freshness(self, now: dt.datetime) -> dict[str, Any]: ...

    def stale(self, now: dt.datetime) -> bool: ...


def department_signers(db: Database) -> dict[tuple[str, bytes], tuple[bytes, ...]]:
    """This region's department signer certificates by (issuer USCC, kid)."""
    out: dict[tuple[str, bytes], tuple[bytes, ...]] = {}
    with db.reader() as session:
        rows = session.execute(
            select(Department.uscc, CertificateRecord.der)
            .join(Department, Department.id == CertificateRecord.department_id)
            .where(CertificateRecord.profile == "signer")
            .order_by(CertificateRecord.id)
        ).all()
    for uscc, der in rows:
        key = (uscc, kid_for(der))
        out[key] = (*out.get(key, ()), der)
    return out


@dataclass(frozen=True)
class MaterialHolderTrust:
    """Code material plus issuers' signers; live status when ``live`` names the database."""

    codes: CodeTrust
    issuers: Mapping[tuple[str, bytes], tuple[bytes, ...]] = field(default_factory=dict)
    live: Database | None = None

    @property
    def source(self) -> str:
        return self.codes.source

    def code_signers(self, kid: bytes) -> Sequence[tuple[bytes, TrustContext]]:
        return [(der, self.codes.trust) for der in self.codes.certificates_for(kid)]

    def issuer_signers(self, issuer: str, kid: bytes) -> Sequence[tuple[bytes, TrustContext]]:
        return [(der, self.codes.trust) for der in self.issuers.get((issuer, kid), ())]

    def freshness(self, now: dt.datetime) -> dict[str, Any]:
        return self.codes.freshness(now)

    def stale(self, now: dt.datetime) -> bool:
        return self.codes.stale(now)

    def licence_status(self, identifier: str, status_index: int, now: dt.datetime) -> StatusAnswer:
        if self.live is not None:
            return StatusAnswer(licence_status(self.live, identifier, now=now))
        return self._from_list(identifier, status_index, now)

    def _from_list(self, identifier: str, status_index: int, now: dt.datetime) -> StatusAnswer:
        """The issuer's held signed status list: fail closed when it is missing, stale or untrusted."""
        try:
            issuer = parse_identifier(identifier).issuer_code
        except TrustSvcError:
            return StatusAnswer(None, problem=(TRY_LATER, "the licence identifier names no issuer; status unknown"))
        checked = self.codes.verified_status_list(issuer, now)
        if checked is None:
            return StatusAnswer(
                None,
                {"issuer": issuer, "sequence": None, "stale": None},
                (TRY_LATER, f"no status list of issuer {issuer} is held ({self.source})"),
            )
        lst = checked.status_list
        summary = {
            "issuer": issuer,
            "sequence": lst.sequence if lst else None,
            "issued_at": iso_utc(lst.issued_at) if lst else None,
            "next_update": iso_utc(lst.next_update) if lst else None,
            "stale": checked.stale,
        }
        if lst is not None and checked.stale and checked.report.indication is not Indication.FAILED:
            return StatusAnswer(
                None,
                summary,
                (
                    TRUST_LIST_STALE,
                    f"the held status list of {issuer} is stale (next update {iso_utc(lst.next_update)})",
                ),
            )
        if lst is None or not checked.report.passed:
            failed = checked.report.indication is Indication.FAILED
            return StatusAnswer(
                None,
                summary,
                (
                    (None if failed else checked.report.sub_indication) or TRY_LATER,
                    f"the held status list of {issuer} cannot be used: {checked.report.message}",
                ),
            )
        try:
            status = lst.status_of(status_index)
        except TrustSvcError as exc:
            return StatusAnswer(None, summary, (TRY_LATER, f"status list sequence {lst.sequence}: {exc.message}"))
        where = f"status list of {issuer}, sequence {lst.sequence}"
        return StatusAnswer(
            LicenceStatus(identifier=identifier, status=status, reason=where, changed_at=None, valid_until=None),
            summary,
        )


def holder_trust_from_db(db: Database, *, live: bool) -> MaterialHolderTrust:
    """This region's own material: live status from its records (``live``), or from the
    issuers' newest stored signed status lists (what an offline check on this machine uses)."""
    return MaterialHolderTrust(
        codes=code_trust_from_db(db, status_lists=not live), issuers=department_signers(db), live=db if live else None
    )
