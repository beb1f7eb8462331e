"""Department seals: make a GB/T 38540 v4 seal once (maker key signs), store it, and apply it
to documents with the department's signer key, time-stamped by the region TSA.

Every make and every application is a key use and is audited in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ca.tsa import TimeStampAuthority
from hsm import sm3

from .audit import AuditEvent, record
from .context import TrustService
from .errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from .formats.seals.make import SealSpec, make_seal, sign_document_parts
from .formats.seals.model import ParsedSeal, SealPicture
from .formats.seals.parse import parse_seal
from .formats.seals.picture import load_uploaded_picture, render_round_seal
from .signing_keys import check_signer, signing_key
from .storage.db import Database
from .storage.models import CertificateRecord, Department, DepartmentDefaultSeal, Region, SealRecord, utcnow

__all__ = [
    "SealRequest",
    "AppliedSeal",
    "make_department_seal",
    "get_seal",
    "apply_seal",
    "apply_seal_in_session",
    "SealStatus",
    "check_seal_usable",
    "signer_listed",
    "default_seal",
    "set_default_seal_in_session",
    "make_seal_in_session",
    "department_certificates",
    "region_timestamper",
    "region_authority",
    "TSA_POLICY_OID",
    "SEAL_VENDOR_ID",
]


class SealStatus(str, enum.Enum):
    """A seal's status (GB/T 38540 seal management): only an active seal is applied."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    """挂失: reported lost or misused; may be reinstated."""
    REVOKED = "revoked"
    """注销: withdrawn for good."""
    SUPERSEDED = "superseded"
    """Re-made (new certificates or keys); the new seal takes its place."""


SEAL_VENDOR_ID = "trustsvc"
TSA_POLICY_OID = "2.25.302536209990631905168652741637771452772.2.1"
"""Time-stamp policy under trustsvc's UUID arc (ITU-T X.667)."""
MAX_NAME = 100


@dataclass(frozen=True)
class SealRequest:
    department_uscc: str
    name: str
    seal_type: int = 1
    """1 单位印章 (official seal of an organisation); other business-defined types allowed."""
    valid_from: dt.datetime | None = None
    valid_until: dt.datetime | None = None
    cert_list_type: int = 1
    """1: the signer certificates themselves; 2: their SM3 digests."""
    picture: bytes | None = None
    """An uploaded image (PNG/JPEG/GIF); None renders the classic red round seal."""
    center_text: str = ""
    make_default: bool = False
    """Seal the department's licences with it from now on (a department's first seal always is)."""


@dataclass(frozen=True)
class AppliedSeal:
    esid: str
    signature: bytes
    """GB/T 38540 v4 SES_Signature (DER)."""
    signing_time: dt.datetime
    data_sm3: str
    timestamped: bool


def department_certificates(session: Session, dept: Department) -> tuple[CertificateRecord, CertificateRecord]:
    """The department's current seal-maker and signer certificates."""
    return _dept_certs(session, dept)


def _dept_certs(session: Session, dept: Department) -> tuple[CertificateRecord, CertificateRecord]:
    rows = {
        r.slug: r
        for r in session.execute(select(CertificateRecord).where(CertificateRecord.department_id == dept.id)).scalars()
    }
    try:
        return rows[f"{dept.uscc}/seal-maker"], rows[f"{dept.uscc}/signer"]
    except KeyError as exc:
        raise NotFoundError(
            f"department {dept.uscc} has no seal-maker/signer certificates", code="department_incomplete"
        ) from exc


def _next_esid(session: Session, region_code: str) -> str:
    count = session.execute(select(func.count()).select_from(SealRecord)).scalar_one()
    return f"{region_code}{count + 1:08d}"


def make_department_seal(service: TrustService, req: SealRequest, *, actor: str) -> SealRecord:
    name = req.name.strip()
    if not name or len(name) > MAX_NAME:
        raise InvalidInputError(f"seal name must be 1..{MAX_NAME} characters", code="invalid_seal_name", field="name")
    if not 1 <= req.seal_type <= 99:
        raise InvalidInputError("seal type must be 1..99", code="invalid_seal_type", field="type")
    if req.cert_list_type not in (1, 2):
        raise InvalidInputError("cert_list_type must be 1 or 2", code="invalid_cert_list_type", field="cert_list_type")
    now = utcnow().replace(microsecond=0)
    valid_from = (req.valid_from or now).astimezone(dt.UTC).replace(microsecond=0)
    picture = (
        load_uploaded_picture(req.picture)
        if req.picture is not None
        else SealPicture("PNG", render_round_seal(name, center_text=req.center_text), 42, 42)
    )
    for attempt in range(3):
        try:
            with service.db.transaction() as session:
                dept = session.execute(
                    select(Department).where(Department.uscc == req.department_uscc.upper())
                ).scalar_one_or_none()
                if dept is None:
                    raise NotFoundError(f"no department {req.department_uscc}", code="department_not_found")
                return make_seal_in_session(
                    service,
                    session,
                    dept,
                    name=name,
                    seal_type=req.seal_type,
                    cert_list_type=req.cert_list_type,
                    picture=picture,
                    valid_from=valid_from,
                    valid_until=req.valid_until,
                    now=now,
                    actor=actor,
                    make_default=req.make_default,
                )
        except IntegrityError:
            if attempt == 2:
                raise ConflictError("could not allocate a seal id; try again", code="esid_conflict") from None
    raise AssertionError("unreachable")


def make_seal_in_session(
    service: TrustService,
    session: Session,
    dept: Department,
    *,
    name: str,
    seal_type: int,
    cert_list_type: int,
    picture: SealPicture,
    valid_from: dt.datetime,
    valid_until: dt.datetime | None,
    now: dt.datetime,
    actor: str,
    make_default: bool = False,
) -> SealRecord:
    """Make and store a seal of ``dept`` with its current seal-maker and signer certificates, in
    the caller's transaction (a re-key makes the new seals with the new keys' certificates)."""
    maker, signer = _dept_certs(session, dept)
    maker_signer = signing_key(service, session, maker, purpose="make a seal", now=now)
    check_signer(session, signer, purpose="list the signer in a new seal", now=now)
    valid_until = (valid_until or min(signer.not_after, maker.not_after)).astimezone(dt.UTC).replace(microsecond=0)
    if valid_until <= valid_from:
        raise InvalidInputError("valid_until must be after valid_from", code="invalid_validity", field="valid_until")
    if valid_until > signer.not_after or valid_from < signer.not_before:
        raise InvalidInputError(
            "the seal's validity must lie within the signer certificate's",
            code="validity_outside_certificate",
            field="valid_until",
        )
    region = session.execute(select(Region)).scalars().one()
    esid = _next_esid(session, region.code)
    der = make_seal(
        SealSpec(
            es_id=esid,
            name=name,
            seal_type=seal_type,
            vid=SEAL_VENDOR_ID,
            signer_certs=(signer.der,),
            cert_list_type=cert_list_type,
            picture=picture,
            valid_start=valid_from,
            valid_end=valid_until,
            create_date=now,
        ),
        maker_signer=maker_signer,
        maker_cert=maker.der,
    )
    row = SealRecord(
        esid=esid,
        department_id=dept.id,
        name=name,
        seal_type=seal_type,
        der=der,
        sha256=hashlib.sha256(der).hexdigest(),
        valid_start=valid_from,
        valid_end=valid_until,
        status=SealStatus.ACTIVE.value,
    )
    session.add(row)
    session.flush()
    record(
        session,
        AuditEvent(
            actor=actor,
            action="seal.make",
            object_type="seal",
            object_id=esid,
            key_ref=maker.key_ref or "",
            details={"department": dept.uscc, "name": name, "sha256": row.sha256, "cert_list_type": cert_list_type},
        ),
    )
    if make_default or session.get(DepartmentDefaultSeal, dept.id) is None:
        set_default_seal_in_session(session, dept, row, actor=actor, now=now)
    return row


def check_seal_usable(seal: SealRecord, now: dt.datetime) -> None:
    """:raises ConflictError: ``seal_suspended``, ``seal_revoked``, ``seal_superseded``,
    ``seal_expired`` or ``seal_not_yet_valid`` when ``seal`` may not be applied at ``now``."""
    if seal.status != SealStatus.ACTIVE.value:
        raise ConflictError(f"seal {seal.esid} is {seal.status}; it is applied no more", code=f"seal_{seal.status}")
    if now > seal.valid_end:
        raise ConflictError(f"seal {seal.esid} expired at {seal.valid_end.isoformat()}", code="seal_expired")
    if now < seal.valid_start:
        raise ConflictError(
            f"seal {seal.esid} is valid only from {seal.valid_start.isoformat()}", code="seal_not_yet_valid"
        )


def signer_listed(seal: ParsedSeal, signer_der: bytes) -> bool:
    """Whether the seal's certList names ``signer_der`` (itself, or its SM3/SHA-256 digest)."""
    if signer_der in seal.cert_list.certs:
        return True
    digests = {sm3(signer_der), hashlib.sha256(signer_der).digest()}
    return any(d.value in digests for d in seal.cert_list.digests)


def set_default_seal_in_session(
    session: Session, dept: Department, seal: SealRecord, *, actor: str, now: dt.datetime
) -> None:
    """Make ``seal`` the one ``dept``'s licences are sealed with (audited)."""
    check_seal_usable(seal, now)
    chosen = session.get(DepartmentDefaultSeal, dept.id)
    previous = None
    if chosen is None:
        session.add(DepartmentDefaultSeal(department_id=dept.id, seal_id=seal.id, chosen_at=now, chosen_by=actor))
    else:
        previous = chosen.seal_id
        chosen.seal_id, chosen.chosen_at, chosen.chosen_by = seal.id, now, actor
    session.flush()
    record(
        session,
        AuditEvent(
            actor=actor,
            action="seal.default",
            object_type="department",
            object_id=dept.uscc,
            details={"seal": seal.esid, "previous_seal_id": previous},
        ),
    )


def default_seal(session: Session, dept: Department, now: dt.datetime) -> SealRecord:
    """The seal ``dept``'s licences are sealed with: the chosen default, never a silent fallback.

    :raises ConflictError: ``no_seal`` (none chosen), or why the chosen one may not be applied
        (``seal_suspended`` …).
    """
    chosen = session.get(DepartmentDefaultSeal, dept.id)
    seal = session.get(SealRecord, chosen.seal_id) if chosen is not None else None
    if seal is None:
        raise ConflictError(
            f"department {dept.uscc} has no default seal; make one, or choose one with "
            "`trustsvc seal default ESID` (POST /api/v1/departments/USCC/default-seal)",
            code="no_seal",
        )
    try:
        check_seal_usable(seal, now)
    except ConflictError as exc:
        raise ConflictError(
            f"the default seal of department {dept.uscc}: {exc.message}; reinstate it or choose another default",
            code=exc.code,
        ) from exc
    return seal


def get_seal(session: Session, esid: str) -> SealRecord:
    row = session.execute(select(SealRecord).where(SealRecord.esid == esid)).scalar_one_or_none()
    if row is None:
        raise NotFoundError(f"no seal {esid}", code="seal_not_found")
    return row


def region_authority(service: TrustService) -> TimeStampAuthority:
    """The region TSA (its key, certificate and chain)."""
    with service.db.reader() as session:
        tsa = session.execute(select(CertificateRecord).where(CertificateRecord.slug == "tsa")).scalar_one()
        chain = (
            session.execute(select(CertificateRecord).where(CertificateRecord.slug.in_(("services", "root"))))
            .scalars()
            .all()
        )
        tsa_signer = signing_key(service, session, tsa, purpose="issue a time-stamp")
    return TimeStampAuthority(tsa_signer, tsa.der, chain=tuple(c.der for c in chain), policy_oid=TSA_POLICY_OID)


def region_timestamper(service: TrustService) -> Callable[[bytes], bytes]:
    """The region TSA as a function of the SES signature value (its messageImprint is SM3)."""
    authority = region_authority(service)

    def stamp(signature_value: bytes) -> bytes:
        return authority.stamp(sm3(signature_value), hash_algorithm="sm3")

    return stamp


def apply_seal(
    service: TrustService,
    esid: str,
    data: bytes,
    *,
    actor: str,
    property_info: str = "/",
    timestamp: bool = True,
    department_uscc: str | None = None,
) -> AppliedSeal:
    """Sign ``data`` with seal ``esid``. ``department_uscc`` restricts which department's seal
    the caller may apply (issuer keys); ``None`` for admin."""
    if not property_info or len(property_info) > 1024 or not property_info.isascii():
        raise InvalidInputError(
            "property_info must be 1..1024 ASCII characters", code="invalid_property_info", field="property_info"
        )
    stamper = region_timestamper(service) if timestamp else None
    with service.db.transaction() as session:
        return apply_seal_in_session(
            service,
            session,
            esid,
            data,
            actor=actor,
            property_info=property_info,
            stamper=stamper,
            department_uscc=department_uscc,
        )


def apply_seal_in_session(
    service: TrustService,
    session: Session,
    esid: str,
    data: bytes,
    *,
    actor: str,
    property_info: str = "/",
    stamper: Callable[[bytes], bytes] | None = None,
    department_uscc: str | None = None,
) -> AppliedSeal:
    """:func:`apply_seal` inside the caller's open transaction (the audit event lands with the
    caller's change). ``stamper`` is :func:`region_timestamper` or None."""
    if not property_info or len(property_info) > 1024 or not property_info.isascii():
        raise InvalidInputError(
            "property_info must be 1..1024 ASCII characters", code="invalid_property_info", field="property_info"
        )
    seal = get_seal(session, esid)
    dept = session.get(Department, seal.department_id)
    assert dept is not None
    if department_uscc is not None and dept.uscc != department_uscc:
        raise PermissionDeniedError("this seal belongs to another department", code="seal_of_other_department")
    now = utcnow().replace(microsecond=0)
    check_seal_usable(seal, now)
    _, signer = _dept_certs(session, dept)
    key = signing_key(service, session, signer, purpose=f"apply seal {esid}", now=now)
    if not signer_listed(parse_seal(seal.der), signer.der):
        raise ConflictError(
            f"seal {esid} does not list the department's current signer certificate; "
            "make a new seal (or renew, which re-makes its seals)",
            code="seal_signer_not_listed",
        )
    signed = sign_document_parts(
        data,
        seal=seal.der,
        signer=key,
        signer_cert=signer.der,
        property_info=property_info,
        time=now,
        timestamper=stamper,
    )
    signature = signed.der
    digest = sm3(data).hex()
    record(
        session,
        AuditEvent(
            actor=actor,
            action="seal.apply",
            object_type="seal",
            object_id=esid,
            key_ref=signer.key_ref or "",
            details={
                "data_sm3": digest,
                "property_info": property_info,
                "timestamped": stamper is not None,
                "signature_sha256": signed.sha256.hex(),
            },
        ),
    )
    return AppliedSeal(
        esid=esid, signature=signature, signing_time=now, data_sm3=digest, timestamped=stamper is not None
    )


def read_seal(db: Database, esid: str) -> SealRecord:
    """:func:`get_seal` in a read-only session of its own. :raises NotFoundError:"""
    with db.reader() as session:
        return get_seal(session, esid)
