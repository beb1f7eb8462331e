"""Department seals: make a GB/T 38540 v4 seal once (maker key signs), store it, and apply it
to documents with the department's signer key, time-stamped by the region TSA.

Every make and every application is a key use and is audited in the same transaction.
"""

from __future__ import annotations

import datetime as dt
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
from .seals.make import SealSpec, make_seal, sign_document
from .seals.model import SealPicture
from .seals.picture import load_uploaded_picture, render_round_seal
from .storage.models import CertificateRecord, Department, Region, SealRecord, utcnow

__all__ = ["SealRequest", "AppliedSeal", "make_department_seal", "get_seal", "apply_seal",
           "apply_seal_in_session",
           "region_timestamper", "region_authority", "TSA_POLICY_OID", "SEAL_VENDOR_ID"]

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


@dataclass(frozen=True)
class AppliedSeal:
    esid: str
    signature: bytes
    """GB/T 38540 v4 SES_Signature (DER)."""
    signing_time: dt.datetime
    data_sm3: str
    timestamped: bool


def _dept_certs(session: Session, dept: Department) -> tuple[CertificateRecord, CertificateRecord]:
    rows = {r.slug: r for r in session.execute(
        select(CertificateRecord).where(CertificateRecord.department_id == dept.id)).scalars()}
    try:
        return rows[f"{dept.uscc}/seal-maker"], rows[f"{dept.uscc}/signer"]
    except KeyError as exc:
        raise NotFoundError(f"department {dept.uscc} has no seal-maker/signer certificates",
                            code="department_incomplete") from exc


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
        raise InvalidInputError("cert_list_type must be 1 or 2", code="invalid_cert_list_type",
                                field="cert_list_type")
    now = utcnow().replace(microsecond=0)
    valid_from = (req.valid_from or now).astimezone(dt.timezone.utc).replace(microsecond=0)
    picture = (load_uploaded_picture(req.picture) if req.picture is not None
               else SealPicture("PNG", render_round_seal(name, center_text=req.center_text), 42, 42))
    for attempt in range(3):
        try:
            with service.db.transaction() as session:
                dept = session.execute(
                    select(Department).where(Department.uscc == req.department_uscc.upper())
                ).scalar_one_or_none()
                if dept is None:
                    raise NotFoundError(f"no department {req.department_uscc}", code="department_not_found")
                maker, signer = _dept_certs(session, dept)
                valid_until = (req.valid_until or min(signer.not_after, maker.not_after)).astimezone(
                    dt.timezone.utc).replace(microsecond=0)
                if valid_until <= valid_from:
                    raise InvalidInputError("valid_until must be after valid_from", code="invalid_validity",
                                            field="valid_until")
                if valid_until > signer.not_after or valid_from < signer.not_before:
                    raise InvalidInputError("the seal's validity must lie within the signer certificate's",
                                            code="validity_outside_certificate", field="valid_until")
                region = session.execute(select(Region)).scalars().one()
                esid = _next_esid(session, region.code)
                assert maker.key_ref is not None
                der = make_seal(
                    SealSpec(es_id=esid, name=name, seal_type=req.seal_type, vid=SEAL_VENDOR_ID,
                             signer_certs=(signer.der,), cert_list_type=req.cert_list_type, picture=picture,
                             valid_start=valid_from, valid_end=valid_until, create_date=now),
                    maker_signer=service.keystore.signer(maker.key_ref),
                    maker_cert=maker.der,
                )
                row = SealRecord(esid=esid, department_id=dept.id, name=name, seal_type=req.seal_type, der=der,
                                 sha256=hashlib.sha256(der).hexdigest(), valid_start=valid_from,
                                 valid_end=valid_until, status="active")
                session.add(row)
                session.flush()
                record(session, AuditEvent(actor=actor, action="seal.make", object_type="seal", object_id=esid,
                                           key_ref=maker.key_ref,
                                           details={"department": dept.uscc, "name": name, "sha256": row.sha256,
                                                    "cert_list_type": req.cert_list_type}))
                return row
        except IntegrityError:
            if attempt == 2:
                raise ConflictError("could not allocate a seal id; try again", code="esid_conflict") from None
    raise AssertionError("unreachable")


def get_seal(session: Session, esid: str) -> SealRecord:
    row = session.execute(select(SealRecord).where(SealRecord.esid == esid)).scalar_one_or_none()
    if row is None:
        raise NotFoundError(f"no seal {esid}", code="seal_not_found")
    return row


def region_authority(service: TrustService) -> TimeStampAuthority:
    """The region TSA (its key, certificate and chain)."""
    with service.db.reader() as session:
        tsa = session.execute(select(CertificateRecord).where(CertificateRecord.slug == "tsa")).scalar_one()
        chain = session.execute(
            select(CertificateRecord).where(CertificateRecord.slug.in_(("services", "root")))
        ).scalars().all()
    assert tsa.key_ref is not None
    return TimeStampAuthority(service.keystore.signer(tsa.key_ref), tsa.der,
                              chain=tuple(c.der for c in chain), policy_oid=TSA_POLICY_OID)


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
        raise InvalidInputError("property_info must be 1..1024 ASCII characters", code="invalid_property_info",
                                field="property_info")
    stamper = region_timestamper(service) if timestamp else None
    with service.db.transaction() as session:
        return apply_seal_in_session(service, session, esid, data, actor=actor, property_info=property_info,
                                     stamper=stamper, department_uscc=department_uscc)


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
        raise InvalidInputError("property_info must be 1..1024 ASCII characters", code="invalid_property_info",
                                field="property_info")
    seal = get_seal(session, esid)
    dept = session.get(Department, seal.department_id)
    assert dept is not None
    if department_uscc is not None and dept.uscc != department_uscc:
        raise PermissionDeniedError("this seal belongs to another department", code="seal_of_other_department")
    if seal.status != "active":
        raise ConflictError(f"seal {esid} is {seal.status}", code="seal_not_active")
    _, signer = _dept_certs(session, dept)
    assert signer.key_ref is not None
    now = utcnow().replace(microsecond=0)
    signature = sign_document(data, seal=seal.der, signer=service.keystore.signer(signer.key_ref),
                              signer_cert=signer.der, property_info=property_info, time=now, timestamper=stamper)
    digest = sm3(data).hex()
    record(session, AuditEvent(actor=actor, action="seal.apply", object_type="seal", object_id=esid,
                               key_ref=signer.key_ref,
                               details={"data_sm3": digest, "property_info": property_info,
                                        "timestamped": stamper is not None,
                                        "signature_sha256": hashlib.sha256(signature).hexdigest()}))
    return AppliedSeal(esid=esid, signature=signature, signing_time=now, data_sm3=digest,
                       timestamped=stamper is not None)
