"""Issuing service codes for licences (DESIGN §4).

* **Static**: one per licence version, printed on the licence and served by
  ``GET /licences/{id}/code``. Made on first request and kept, so every copy is the same text;
  ``exp`` is the end of the licence's last valid day (China time), or absent for a licence
  without an end: it lives as long as the licence, and its status decides the verdict.
* **Dynamic**: short-lived (``[codes] dynamic_ttl``, default 120 s), with a random nonce (CWT
  ``cti``) recorded here so an online verification can use it exactly once.

Both are signed by the region's code-signer key (``code-signer`` certificate); each signing
is a key use written to the audit log in the same transaction as the record.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from trustsvc.times import iso_utc

from ..apikeys import Actor, Role, SystemActor
from ..audit import AuditEvent, record
from ..context import TrustService
from ..errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from ..licences.catalogue import find_type, type_not_allowed_message
from ..licences.masking import mask_holder_id
from ..licences.service import find_licence
from ..licences.status import effective_status
from ..signing_keys import check_signer, signing_key
from ..storage.models import CertificateRecord, LicenceRecord, Region, ServiceCodeRecord, utcnow
from .format import DYNAMIC, NONCE_LENGTH, STATIC, CodeClaims, sign_code

__all__ = [
    "IssuedCode",
    "static_code",
    "static_code_text",
    "static_code_in_session",
    "make_dynamic_code",
    "MIN_TTL",
    "MAX_TTL",
    "CODE_SIGNER_SLUG",
]

CODE_SIGNER_SLUG = "code-signer"
MIN_TTL = 30
MAX_TTL = 900
_CHINA = dt.timezone(dt.timedelta(hours=8), "CST")


@dataclass(frozen=True)
class IssuedCode:
    text: str
    typ: str
    licence: str
    issued_at: dt.datetime
    expires_at: dt.datetime | None

    def as_dict(self) -> dict[str, str | None]:
        return {
            "code": self.text,
            "type": self.typ,
            "licence": self.licence,
            "issued_at": iso_utc(self.issued_at),
            "expires_at": iso_utc(self.expires_at) if self.expires_at else None,
        }


def _authorise(principal_or_actor: Actor, row: LicenceRecord) -> str:
    """Codes are made by the licence's department (issuer key, its types) or an admin."""
    if isinstance(principal_or_actor, SystemActor):
        return principal_or_actor.name
    p = principal_or_actor
    if p.role is Role.ADMIN:
        return p.actor
    if p.role is Role.ISSUER:
        if p.department_uscc != row.department.uscc:
            raise PermissionDeniedError("an issuer key acts only for its own department", code="other_department")
        if row.type_code not in p.licence_types:
            raise PermissionDeniedError(
                type_not_allowed_message(
                    "",
                    allowed=p.licence_types,
                    wanted=row.type_code,
                    department_uscc=p.department_uscc,
                    action="make service codes for",
                ),
                code="licence_type_not_allowed",
            )
        return p.actor
    raise PermissionDeniedError(f"a {p.role.value} key may not make service codes", code="role_not_allowed")


def _code_signer(session: Session, now: dt.datetime) -> CertificateRecord:
    row = session.execute(
        select(CertificateRecord).where(CertificateRecord.slug == CODE_SIGNER_SLUG)
    ).scalar_one_or_none()
    if row is None or row.key_ref is None:
        raise NotFoundError("this region has no code-signer certificate; run `trustsvc init`", code="no_code_signer")
    check_signer(session, row, purpose="sign a service code", now=now)
    return row


def _region_code(session: Session) -> str:
    region = session.execute(select(Region)).scalars().first()
    if region is None:
        raise NotFoundError("no region is initialised", code="region_not_found")
    return region.code


def _licence_end(row: LicenceRecord) -> dt.datetime | None:
    """The first instant after the licence's last valid day (China time)."""
    if row.valid_until is None:
        return None
    return dt.datetime.combine(row.valid_until + dt.timedelta(days=1), dt.time(), _CHINA).astimezone(dt.UTC)


def _claims(
    session: Session, row: LicenceRecord, *, typ: str, iat: dt.datetime, exp: dt.datetime | None, nonce: bytes | None
) -> CodeClaims:
    region = _region_code(session)
    try:
        type_name = find_type(region, row.type_code).name
    except NotFoundError:
        type_name = row.type_code
    return CodeClaims(
        iss=region,
        sub=row.identifier,
        typ=typ,
        iat=int(iat.timestamp()),
        exp=int(exp.timestamp()) if exp is not None else None,
        status_index=row.status_index,
        display={
            "n": type_name,
            "h": row.holder_name,
            "hid": mask_holder_id(row.holder_id, row.holder_id_type),
            "o": row.department.name,
        },
        nonce=nonce,
    )


def _sign(
    service: TrustService,
    session: Session,
    signer: CertificateRecord,
    claims: CodeClaims,
    *,
    actor: str,
    licence: LicenceRecord,
) -> str:
    assert signer.key_ref is not None
    text = sign_code(
        claims, signer=signing_key(service, session, signer, purpose="sign a service code"), cert_der=signer.der
    )
    record(
        session,
        AuditEvent(
            actor=actor,
            action="code.issue",
            object_type="licence",
            object_id=licence.identifier,
            key_ref=signer.key_ref,
            details={
                "type": claims.typ,
                "nonce": claims.nonce.hex() if claims.nonce else None,
                "iat": claims.iat,
                "exp": claims.exp,
                "signer": signer.sha256,
            },
        ),
    )
    return text


def static_code_in_session(
    service: TrustService, session: Session, row: LicenceRecord, *, actor: str = "system"
) -> str:
    """The licence version's static code inside the caller's transaction (e.g. while its PDF
    is rendered at issuance): the kept one, or a new one signed and kept now."""
    kept = _kept_static(session, row)
    if kept is not None and kept.text is not None:
        return kept.text
    now = utcnow().replace(microsecond=0)
    signer = _code_signer(session, now)
    claims = _claims(session, row, typ=STATIC, iat=now, exp=_licence_end(row), nonce=None)
    text = _sign(service, session, signer, claims, actor=actor, licence=row)
    try:
        with session.begin_nested():
            session.add(
                ServiceCodeRecord(
                    licence_id=row.id,
                    kind=STATIC,
                    nonce=None,
                    text=text,
                    signer_sha256=signer.sha256,
                    issued_at=now,
                    expires_at=_licence_end(row),
                )
            )
    except IntegrityError:
        # a concurrent request kept its static code first: everyone serves that one
        winner = _kept_static(session, row)
        assert winner is not None and winner.text is not None
        return winner.text
    return text


def static_code(service: TrustService, identifier: str, *, principal_or_actor: Actor) -> IssuedCode:
    """The static code of a licence version (made and kept on first request).

    :raises NotFoundError: no such licence (or no code signer).
    :raises PermissionDeniedError: the principal may not act for this licence.
    """
    with service.db.reader() as session:
        row = find_licence(session, identifier)
        actor = _authorise(principal_or_actor, row)
        kept = _kept_static(session, row)
    if kept is None:
        with service.db.transaction() as session:
            row = find_licence(session, identifier)
            static_code_in_session(service, session, row, actor=actor)
            kept = _kept_static(session, row)
    assert kept is not None and kept.text is not None
    return IssuedCode(
        text=kept.text, typ=STATIC, licence=row.identifier, issued_at=kept.issued_at, expires_at=kept.expires_at
    )


def _kept_static(session: Session, row: LicenceRecord) -> ServiceCodeRecord | None:
    return session.execute(
        select(ServiceCodeRecord).where(ServiceCodeRecord.licence_id == row.id, ServiceCodeRecord.kind == STATIC)
    ).scalar_one_or_none()


def static_code_text(service: TrustService, identifier: str) -> str:
    """The ``TS1:`` text of a licence version's static code, for the licence PDF's QR slot."""
    return static_code(service, identifier, principal_or_actor=SystemActor("system")).text


def make_dynamic_code(
    service: TrustService, identifier: str, *, principal_or_actor: Actor, ttl: int | None = None
) -> IssuedCode:
    """A short-lived code for an active licence, recorded for its single online use.

    :param ttl: lifetime in seconds (``MIN_TTL``..``MAX_TTL``); default ``[codes] dynamic_ttl``.
    :raises InvalidInputError: ``invalid_ttl``.
    :raises ConflictError: ``licence_not_active`` (revoked, suspended, superseded, expired).
    """
    ttl = service.config.codes.dynamic_ttl if ttl is None else ttl
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not MIN_TTL <= ttl <= MAX_TTL:
        raise InvalidInputError(f"ttl must be {MIN_TTL}..{MAX_TTL} seconds", code="invalid_ttl", field="ttl")
    with service.db.transaction() as session:
        row = find_licence(session, identifier)
        actor = _authorise(principal_or_actor, row)
        now = utcnow().replace(microsecond=0)
        status = effective_status(row, now)
        if status != "active":
            raise ConflictError(
                f"licence {row.identifier} is {status}; no dynamic code is issued", code="licence_not_active"
            )
        signer = _code_signer(session, now)
        nonce = secrets.token_bytes(NONCE_LENGTH)
        expires = now + dt.timedelta(seconds=ttl)
        licence_end = _licence_end(row)
        if licence_end is not None and licence_end < expires:
            expires = licence_end
        claims = _claims(session, row, typ=DYNAMIC, iat=now, exp=expires, nonce=nonce)
        text = _sign(service, session, signer, claims, actor=actor, licence=row)
        session.add(
            ServiceCodeRecord(
                licence_id=row.id,
                kind=DYNAMIC,
                nonce=nonce.hex(),
                text=None,
                signer_sha256=signer.sha256,
                issued_at=now,
                expires_at=expires,
            )
        )
        return IssuedCode(text=text, typ=DYNAMIC, licence=row.identifier, issued_at=now, expires_at=expires)
