"""The region's certificate hierarchy: region root → issuing CAs → service and department
certificates (ca.profiles), with CRLs per CA.

Keys are created in the key store first and then certified in one database transaction; a
retry after a crash reuses a key that was created but never certified, so ``init`` and
``department add`` can always be run again safely.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ca import PROFILES, RevokedEntry, SubjectSpec, build_crl, issue_certificate, parse_certificate
from hsm import KeyAlgorithm, KeyStore

from .audit import AuditEvent, record
from .config import REGION_CODE_RE
from .context import TrustService
from .errors import ConflictError, InvalidInputError, NotFoundError, NotInitialisedError
from .formats.uscc import validate_uscc
from .signing_keys import signing_key
from .storage.db import Database
from .storage.models import CertificateRecord, CRLRecord, Department, Region, utcnow

__all__ = [
    "InitResult",
    "DepartmentResult",
    "init_region",
    "add_department",
    "get_region",
    "get_ca",
    "list_cas",
    "current_crl",
    "revoke_certificate",
    "SERVICE_CERTS",
    "CRL_LIFETIME",
]

CRL_LIFETIME = dt.timedelta(days=7)
CRL_REFRESH = dt.timedelta(days=1)

SERVICE_CERTS: tuple[tuple[str, str, str], ...] = (
    # slug, profile, subject common-name suffix
    ("trust-list-signer", "trust_list_signer", "信任列表签名"),
    ("status-list-signer", "status_list_signer", "证照状态列表签名"),
    ("code-signer", "code_signer", "服务码签名"),
    ("ocsp", "ocsp", "OCSP 响应"),
    ("tsa", "tsa", "时间戳服务"),
)
DEPARTMENT_CERTS: tuple[tuple[str, str, str], ...] = (
    ("seal-maker", "seal_maker", "制章者"),
    ("signer", "signer", "签章者"),
)


@dataclass(frozen=True)
class InitResult:
    created: bool
    region_code: str
    region_name: str
    root_sha256: str
    """The region's pin: SHA-256 of its root CA certificate DER."""


@dataclass(frozen=True)
class DepartmentResult:
    created: bool
    uscc: str
    name: str
    certificates: dict[str, str]
    """slug → SHA-256 fingerprint."""


def _ensure_key(
    keystore: KeyStore, session: Session, label: str, actor: str, algorithm: KeyAlgorithm = KeyAlgorithm.SM2
) -> str:
    """The key labelled ``label``, created with ``algorithm`` (``[hsm] key_algorithm``) when missing."""
    key_ref = keystore.key_ref(label)
    if not keystore.has_key(key_ref):
        keystore.create_key(label, algorithm)
        record(
            session,
            AuditEvent(
                actor=actor,
                action="key.create",
                object_type="key",
                object_id=key_ref,
                key_ref=key_ref,
                details={"algorithm": algorithm.value},
            ),
        )
    return key_ref


def _algorithm(service: TrustService) -> KeyAlgorithm:
    return KeyAlgorithm(service.config.hsm.key_algorithm)


def _urls(service: TrustService, issuer_slug: str) -> tuple[str, str, str]:
    """CRL, OCSP and caIssuers URLs that certificates issued under ``issuer_slug`` point at."""
    base = service.config.server.public_url
    return (f"{base}/api/v1/crl/{issuer_slug}", f"{base}/api/v1/ocsp", f"{base}/api/v1/ca/{issuer_slug}")


def _certify(
    service: TrustService,
    session: Session,
    *,
    slug: str,
    profile: str,
    subject: SubjectSpec,
    key_ref: str,
    issuer: CertificateRecord | None,
    actor: str,
    department: Department | None = None,
) -> CertificateRecord:
    ks = service.keystore
    public_key = ks.public_key(key_ref)
    if issuer is None:
        der = issue_certificate(
            profile=PROFILES[profile],
            subject=subject,
            public_key=public_key,
            issuer_signer=ks.signer(key_ref),
            issuer_cert=None,
        )
        issuer_key_ref = key_ref
    else:
        assert issuer.key_ref is not None
        crl_url, ocsp_url, ca_issuers_url = _urls(service, issuer.slug)
        issuer_signer = signing_key(service, session, issuer, purpose=f"issue a {profile} certificate")
        der = issue_certificate(
            profile=PROFILES[profile],
            subject=subject,
            public_key=public_key,
            issuer_signer=issuer_signer,
            issuer_cert=issuer.der,
            crl_url=crl_url,
            ocsp_url=ocsp_url,
            ca_issuers_url=ca_issuers_url,
        )
        issuer_key_ref = issuer.key_ref
    cert = parse_certificate(der)
    row = CertificateRecord(
        slug=slug,
        profile=profile,
        serial_hex=format(cert.serial, "x"),
        subject=cert.subject_str,
        issuer_id=issuer.id if issuer else None,
        key_ref=key_ref,
        der=der,
        sha256=cert.sha256,
        not_before=cert.not_before,
        not_after=cert.not_after,
        status="good",
        department_id=department.id if department else None,
    )
    session.add(row)
    session.flush()
    record(
        session,
        AuditEvent(
            actor=actor,
            action="certificate.issue",
            object_type="certificate",
            object_id=slug,
            key_ref=issuer_key_ref,
            details={"profile": profile, "serial": row.serial_hex, "subject": row.subject, "sha256": row.sha256},
        ),
    )
    return row


def get_region(session: Session) -> Region:
    region = session.execute(select(Region)).scalars().first()
    if region is None:
        raise NotInitialisedError("no region is initialised here; run `trustsvc init --region CODE --name NAME`")
    return region


def init_region(service: TrustService, code: str, name: str, *, actor: str = "cli") -> InitResult:
    """Create the region root CA, the services CA and the service certificates; idempotent."""
    if not REGION_CODE_RE.match(code):
        raise InvalidInputError(f"region code {code!r} is not a GB/T 2260 code", code="invalid_region", field="region")
    name = name.strip()
    if not name:
        raise InvalidInputError("region name is empty", code="invalid_region_name", field="name")
    with service.db.transaction() as session:
        existing = session.execute(select(Region)).scalars().first()
        if existing is not None:
            if existing.code != code:
                raise ConflictError(
                    f"this service is already initialised for region {existing.code} {existing.name}",
                    code="region_mismatch",
                )
            root = get_ca(session, "root")
            return InitResult(False, existing.code, existing.name, root.sha256)

        ks = service.keystore
        root_key = _ensure_key(ks, session, f"r{code}-root-ca", actor, _algorithm(service))
        root = _certify(
            service,
            session,
            slug="root",
            profile="root_ca",
            key_ref=root_key,
            issuer=None,
            actor=actor,
            subject=SubjectSpec(common_name=f"{name}电子政务根CA", organization=name),
        )
        services_key = _ensure_key(ks, session, f"r{code}-services-ca", actor, _algorithm(service))
        services = _certify(
            service,
            session,
            slug="services",
            profile="issuing_ca",
            key_ref=services_key,
            issuer=root,
            actor=actor,
            subject=SubjectSpec(common_name=f"{name}电子政务服务CA", organization=name),
        )
        for slug, profile, cn in SERVICE_CERTS:
            key_ref = _ensure_key(ks, session, f"r{code}-{slug}", actor, _algorithm(service))
            _certify(
                service,
                session,
                slug=slug,
                profile=profile,
                key_ref=key_ref,
                issuer=services,
                actor=actor,
                subject=SubjectSpec(common_name=f"{name}{cn}", organization=name),
            )
        session.add(Region(code=code, name=name))
        record(
            session,
            AuditEvent(
                actor=actor,
                action="region.init",
                object_type="region",
                object_id=code,
                details={"name": name, "root_sha256": root.sha256},
            ),
        )
        return InitResult(True, code, name, root.sha256)


def add_department(service: TrustService, uscc: str, name: str, *, actor: str = "cli") -> DepartmentResult:
    """Issuing CA plus seal-maker and signer certificates for a department; idempotent."""
    uscc = validate_uscc(uscc)
    name = name.strip()
    if not name:
        raise InvalidInputError("department name is empty", code="invalid_department_name", field="name")
    with service.db.transaction() as session:
        region = get_region(session)
        dept = session.execute(select(Department).where(Department.uscc == uscc)).scalar_one_or_none()
        if dept is not None:
            if dept.name != name:
                raise ConflictError(f"department {uscc} exists under the name {dept.name}", code="department_exists")
            certs = (
                session.execute(select(CertificateRecord).where(CertificateRecord.department_id == dept.id))
                .scalars()
                .all()
            )
            return DepartmentResult(False, uscc, name, {c.slug: c.sha256 for c in certs})
        root = get_ca(session, "root")
        dept = Department(uscc=uscc, name=name)
        session.add(dept)
        session.flush()
        ks = service.keystore
        org_id = f"NTRCN-{uscc}"
        ca_key = _ensure_key(ks, session, f"d{uscc}-issuing-ca", actor, _algorithm(service))
        issuing = _certify(
            service,
            session,
            slug=uscc,
            profile="issuing_ca",
            key_ref=ca_key,
            issuer=root,
            actor=actor,
            department=dept,
            subject=SubjectSpec(common_name=f"{name}颁发CA", organization=name, organization_identifier=org_id),
        )
        dept.issuing_ca_id = issuing.id
        fingerprints = {issuing.slug: issuing.sha256}
        for suffix, profile, cn in DEPARTMENT_CERTS:
            key_ref = _ensure_key(ks, session, f"d{uscc}-{suffix}", actor, _algorithm(service))
            row = _certify(
                service,
                session,
                slug=f"{uscc}/{suffix}",
                profile=profile,
                key_ref=key_ref,
                issuer=issuing,
                actor=actor,
                department=dept,
                subject=SubjectSpec(common_name=f"{name}{cn}", organization=name, organization_identifier=org_id),
            )
            fingerprints[row.slug] = row.sha256
        record(
            session,
            AuditEvent(
                actor=actor,
                action="department.add",
                object_type="department",
                object_id=uscc,
                details={"name": name, "region": region.code},
            ),
        )
        return DepartmentResult(True, uscc, name, fingerprints)


def get_ca(session: Session, slug: str) -> CertificateRecord:
    """A CA certificate by slug (``root``, ``services`` or a department's USCC)."""
    row = session.execute(select(CertificateRecord).where(CertificateRecord.slug == slug)).scalar_one_or_none()
    if row is None or not row.is_ca:
        raise NotFoundError(f"no CA {slug!r}", code="ca_not_found")
    return row


def list_cas(session: Session) -> list[CertificateRecord]:
    return list(
        session.execute(
            select(CertificateRecord)
            .where(CertificateRecord.profile.in_(("root_ca", "issuing_ca")))
            .order_by(CertificateRecord.id)
        ).scalars()
    )


def _fresh_crl(session: Session, ca: CertificateRecord, now: dt.datetime) -> CRLRecord | None:
    latest = session.execute(
        select(CRLRecord).where(CRLRecord.ca_id == ca.id).order_by(CRLRecord.crl_number.desc()).limit(1)
    ).scalar_one_or_none()
    if latest is not None and now < latest.this_update + CRL_REFRESH and now < latest.next_update:
        return latest
    return None


def current_crl(service: TrustService, slug: str, *, now: dt.datetime | None = None, force: bool = False) -> bytes:
    """The CA's current CRL (DER): the stored one while fresh, else a newly signed one."""
    now = now or utcnow()
    if not force:
        with service.db.reader() as session:
            ca = get_ca(session, slug)
            fresh = _fresh_crl(session, ca, now)
            if fresh is not None:
                return fresh.der
    try:
        with service.db.transaction() as session:
            ca = get_ca(session, slug)
            fresh = None if force else _fresh_crl(session, ca, now)
            if fresh is not None:
                return fresh.der
            number = (
                session.execute(
                    select(func.max(CRLRecord.crl_number)).where(CRLRecord.ca_id == ca.id)
                ).scalar_one_or_none()
                or 0
            ) + 1
            revoked = (
                session.execute(
                    select(CertificateRecord).where(
                        CertificateRecord.issuer_id == ca.id, CertificateRecord.status == "revoked"
                    )
                )
                .scalars()
                .all()
            )
            assert ca.key_ref is not None
            der = build_crl(
                issuer_cert=ca.der,
                issuer_signer=signing_key(service, session, ca, purpose=f"sign the CRL of {slug}", now=now),
                revoked=[
                    RevokedEntry(int(r.serial_hex, 16), r.revoked_at or now, r.revocation_reason or "unspecified")
                    for r in revoked
                ],
                crl_number=number,
                this_update=now,
                next_update=now + CRL_LIFETIME,
            )
            session.add(
                CRLRecord(ca_id=ca.id, crl_number=number, der=der, this_update=now, next_update=now + CRL_LIFETIME)
            )
            record(
                session,
                AuditEvent(
                    actor="system",
                    action="crl.issue",
                    object_type="crl",
                    object_id=slug,
                    key_ref=ca.key_ref,
                    details={"crl_number": number, "revoked": len(revoked), "sha256": hashlib.sha256(der).hexdigest()},
                ),
            )
            return der
    except IntegrityError:
        # Another worker signed the same CRL number first; serve theirs.
        with service.db.reader() as session:
            ca = get_ca(session, slug)
            latest = session.execute(
                select(CRLRecord).where(CRLRecord.ca_id == ca.id).order_by(CRLRecord.crl_number.desc()).limit(1)
            ).scalar_one()
            return latest.der


def revoke_certificate(
    service: TrustService, slug: str, reason: str, *, actor: str, now: dt.datetime | None = None
) -> CertificateRecord:
    """Mark a certificate revoked; the next CRL of its issuer lists it."""
    now = now or utcnow()
    with service.db.transaction() as session:
        row = session.execute(select(CertificateRecord).where(CertificateRecord.slug == slug)).scalar_one_or_none()
        if row is None:
            raise NotFoundError(f"no certificate {slug!r}", code="certificate_not_found")
        if row.issuer_id is None:
            raise InvalidInputError("a root certificate cannot be revoked by CRL", code="cannot_revoke_root")
        if row.status != "revoked":
            row.status = "revoked"
            row.revoked_at = now
            row.revocation_reason = reason
            record(
                session,
                AuditEvent(
                    actor=actor,
                    action="certificate.revoke",
                    object_type="certificate",
                    object_id=slug,
                    details={"reason": reason, "serial": row.serial_hex},
                ),
            )
        return row


# -- reads for the front doors (each opens its own read-only session) -----------------------------


def region_code_or_blank(db: Database) -> str:
    """This region's code, or ``""`` before ``trustsvc init`` (pages still render then)."""
    return db.region_code()


def read_region(db: Database) -> Region:
    """The region. :raises NotInitialisedError: before ``trustsvc init``."""
    with db.reader() as session:
        return get_region(session)


def read_cas(db: Database) -> list[CertificateRecord]:
    """The root and issuing CA certificates, oldest first."""
    with db.reader() as session:
        return list_cas(session)


def read_ca_der(db: Database, slug: str) -> bytes:
    """A CA certificate's DER by slug. :raises NotFoundError:"""
    with db.reader() as session:
        return get_ca(session, slug).der


def read_departments(db: Database) -> list[Department]:
    """Every department, in the order they were added."""
    with db.reader() as session:
        return list(session.execute(select(Department).order_by(Department.id)).scalars())
