"""Certificate lifecycle: list, revoke, renew, and re-key a department after a compromise.

What follows a change at once (same transaction, or signed right after it commits):

* the issuing CA's CRL is re-signed, OCSP answers from the records, and the trust list is
  re-signed with the revocation (``revoked``) and the seals' new status, so peers see it at
  their next refresh;
* seals bound to a revoked signer or CA (or to a seal maker revoked for a compromise) are
  revoked from the same time: they can never be applied again.

A compromise is dated: revoking with ``key_compromise`` (or re-keying) takes the time ``T`` from
which the key is no longer trusted, and the certificate's revocation time is ``T``. Signatures
made before ``T`` keep verifying when a time-stamp proves it (:class:`trustsvc.formats.trust.RevocationRule`);
later ones FAIL. Other reasons take effect now.

Renewal issues a new certificate in the same place (same or new key); the old one keeps
verifying what it signed (with a new key it is revoked as ``superseded``, so it signs nothing
more). A department's signer renewal re-makes its active seals, since a seal lists its signer
certificates. Re-keying a department makes new seal-maker and signer keys and certificates,
revokes the old signer from ``T`` (``key_compromise``), re-makes its seals on the new keys
(the old ones revoked from ``T``), and re-issues the licences sealed with the old key since
``T`` as new versions.
"""

from __future__ import annotations

import datetime as dt
import enum
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ca import SubjectSpec

from .audit import AuditEvent, record
from .context import TrustService
from .errors import ConflictError, InvalidInputError, NotFoundError
from .formats.seals.parse import parse_seal
from .formats.trust import COMPROMISE_REASONS
from .pki import DEPARTMENT_CERTS, SERVICE_CERTS, _algorithm, _certify, _ensure_key, current_crl, get_region
from .seal_lifecycle import change_seal_status_in_session, publish_after_change, remake_seal_in_session
from .sealing import SealStatus, department_certificates, signer_listed
from .signing_keys import CertificateStatus, signer_problem
from .storage.db import Database
from .storage.models import CertificateRecord, Department, LicenceRecord, SealRecord, utcnow
from .times import iso_utc as _iso

__all__ = [
    "RevocationReason",
    "certificate_json",
    "find_certificate",
    "list_certificates",
    "revoke_certificate",
    "renew_certificate",
    "rekey_department",
    "RENEWABLE_PROFILES",
]

RENEWABLE_PROFILES = frozenset({"seal_maker", "signer", "status_list_signer", "code_signer", "ocsp", "tsa"})
_SKEW = dt.timedelta(minutes=5)
_CN = {profile: cn for _, profile, cn in (*SERVICE_CERTS, *DEPARTMENT_CERTS)}
_SUFFIX = {profile: slug for slug, profile, _ in DEPARTMENT_CERTS}


class RevocationReason(str, enum.Enum):
    """RFC 5280 CRLReason values offered here (asn1crypto spelling, as CRLs and OCSP carry them).

    certificateHold and removeFromCRL are not offered: a temporary stop is a seal suspension."""

    UNSPECIFIED = "unspecified"
    KEY_COMPROMISE = "key_compromise"
    CA_COMPROMISE = "ca_compromise"
    AFFILIATION_CHANGED = "affiliation_changed"
    SUPERSEDED = "superseded"
    CESSATION_OF_OPERATION = "cessation_of_operation"
    PRIVILEGE_WITHDRAWN = "privilege_withdrawn"

    @classmethod
    def parse(cls, text: str) -> RevocationReason:
        """``keyCompromise`` (RFC 5280), ``key_compromise`` or ``key-compromise``.

        :raises InvalidInputError: ``invalid_revocation_reason``.
        """
        wanted = str(text).strip().replace("_", "").replace("-", "").lower()
        for reason in cls:
            if reason.value.replace("_", "") == wanted:
                return reason
        names = ", ".join(_camel(r.value) for r in cls)
        raise InvalidInputError(
            f"unknown or unsupported revocation reason {str(text)[:40]!r}; use one of {names} "
            "(to stop a seal for a while, suspend the seal)",
            code="invalid_revocation_reason",
            field="reason",
        )

    @property
    def compromise(self) -> bool:
        return self.value in COMPROMISE_REASONS


def _camel(value: str) -> str:
    head, *rest = value.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest).replace("Ca", "CA")


# -- reading ------------------------------------------------------------------------------------


def find_certificate(session: Session, ident: str) -> CertificateRecord:
    """A certificate by slug (``11320000MB0000001G/signer``), serial (hex) or SHA-256.

    :raises NotFoundError: ``certificate_not_found``.
    """
    text = ident.strip()
    lowered = text.lower()
    row = (
        session.execute(
            select(CertificateRecord).where(
                or_(
                    CertificateRecord.slug == text,
                    CertificateRecord.serial_hex == lowered.removeprefix("0x"),
                    CertificateRecord.sha256 == lowered,
                )
            )
        )
        .scalars()
        .first()
    )
    if row is None:
        raise NotFoundError(
            f"no certificate {text[:100]!r} (give its name, serial or SHA-256; `trustsvc cert list` shows them)",
            code="certificate_not_found",
        )
    return row


def certificate_json(session: Session, row: CertificateRecord, *, now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    dept = session.get(Department, row.department_id) if row.department_id is not None else None
    issuer = session.get(CertificateRecord, row.issuer_id) if row.issuer_id is not None else None
    problem = signer_problem(session, row, now=now)
    return {
        "slug": row.slug,
        "serial": row.serial_hex,
        "profile": row.profile,
        "subject": row.subject,
        "sha256": row.sha256,
        "department": dept.uscc if dept is not None else None,
        "issuer": issuer.slug if issuer is not None else None,
        "not_before": _iso(row.not_before),
        "not_after": _iso(row.not_after),
        "days_left": max(0, (row.not_after - now).days),
        "status": row.status,
        "revoked_at": _iso(row.revoked_at),
        "revocation_reason": row.revocation_reason,
        "current": "@" not in row.slug,
        "usable": problem is None,
        "problem": problem[0] if problem is not None else None,
    }


def list_certificates(
    service: TrustService,
    *,
    department: str | None = None,
    current_only: bool = False,
    expiring_within_days: int | None = None,
) -> list[dict[str, Any]]:
    """Every certificate we issued (and the root), optionally one department's, only those in
    use, or only those expiring within a number of days (what to renew)."""
    now = utcnow()
    with service.db.reader() as session:
        query = select(CertificateRecord).order_by(CertificateRecord.id)
        if department is not None:
            dept = session.execute(select(Department).where(Department.uscc == department.upper())).scalar_one_or_none()
            if dept is None:
                raise NotFoundError(f"no department {department}", code="department_not_found")
            query = query.where(CertificateRecord.department_id == dept.id)
        rows = [certificate_json(session, r, now=now) for r in session.execute(query).scalars()]
    if current_only:
        rows = [r for r in rows if r["current"] and r["status"] == CertificateStatus.GOOD.value]
    if expiring_within_days is not None:
        rows = [
            r
            for r in rows
            if r["status"] == CertificateStatus.GOOD.value and r["current"] and r["days_left"] <= expiring_within_days
        ]
    return rows


# -- revoking -----------------------------------------------------------------------------------


def _descendants(session: Session, row: CertificateRecord) -> list[CertificateRecord]:
    out, todo = [row], [row.id]
    while todo:
        children = list(
            session.execute(select(CertificateRecord).where(CertificateRecord.issuer_id.in_(todo))).scalars()
        )
        out.extend(children)
        todo = [c.id for c in children]
    return out


def _bound_seals(session: Session, certs: list[CertificateRecord], *, makers: bool) -> list[SealRecord]:
    """Seals not yet revoked that list one of the signer ``certs`` (or were made by one of the
    seal-maker ``certs`` when ``makers``)."""
    signers = [c.der for c in certs if c.profile == "signer"]
    maker_ders = {c.der for c in certs if c.profile == "seal_maker"} if makers else set()
    dept_ids = {c.department_id for c in certs if c.department_id is not None}
    if not dept_ids or not (signers or maker_ders):
        return []
    out = []
    for seal in session.execute(
        select(SealRecord)
        .where(SealRecord.department_id.in_(dept_ids), SealRecord.status != SealStatus.REVOKED.value)
        .order_by(SealRecord.id)
    ).scalars():
        parsed = parse_seal(seal.der)
        if parsed.maker_cert in maker_ders or any(signer_listed(parsed, der) for der in signers):
            out.append(seal)
    return out


def _mark_revoked(
    session: Session, row: CertificateRecord, reason: RevocationReason, at: dt.datetime, *, actor: str, now: dt.datetime
) -> None:
    row.status = CertificateStatus.REVOKED.value
    row.revoked_at = at
    row.revocation_reason = reason.value
    session.flush()
    record(
        session,
        AuditEvent(
            actor=actor,
            action="certificate.revoke",
            object_type="certificate",
            object_id=row.slug,
            details={
                "reason": reason.value,
                "serial": row.serial_hex,
                "sha256": row.sha256,
                "revoked_at": _iso(at),
                "recorded_at": _iso(now),
            },
        ),
    )


def _revoke_in_session(
    session: Session, row: CertificateRecord, reason: RevocationReason, at: dt.datetime, *, actor: str, now: dt.datetime
) -> list[str]:
    """Revoke ``row`` from ``at`` and the seals bound to it (see the module docstring); the
    esIDs of the seals revoked."""
    _mark_revoked(session, row, reason, at, actor=actor, now=now)
    makers = reason.compromise or row.is_ca
    revoked = []
    for seal in _bound_seals(session, _descendants(session, row), makers=makers):
        effective = min(max(at, seal.created_at.replace(microsecond=0)), now)
        change_seal_status_in_session(
            session,
            seal,
            SealStatus.REVOKED,
            actor=actor,
            effective_at=effective,
            reason=f"{row.profile} certificate {row.serial_hex} revoked ({reason.value})",
        )
        revoked.append(seal.esid)
    return revoked


def _compromise_time(
    row: CertificateRecord, reason: RevocationReason, at: dt.datetime | None, now: dt.datetime
) -> dt.datetime:
    if at is None:
        return now
    if not reason.compromise:
        raise InvalidInputError(
            "only a compromise (keyCompromise, cACompromise) is revoked from an earlier time",
            code="compromise_time_not_allowed",
            field="compromised_at",
        )
    at = at.astimezone(dt.UTC).replace(microsecond=0)
    if at > now + _SKEW:
        raise InvalidInputError(
            "the compromise time is in the future", code="invalid_compromise_time", field="compromised_at"
        )
    return min(max(at, row.not_before), now)


def _publish(service: TrustService, crl_issuers: list[str]) -> dict[str, Any]:
    """Re-sign the CRLs of ``crl_issuers`` and the trust list; report what could not be signed."""
    crls = []
    for slug in dict.fromkeys(crl_issuers):
        try:
            current_crl(service, slug, force=True)
            crls.append({"issuer": slug, "signed": True})
        except ConflictError as exc:
            crls.append({"issuer": slug, "signed": False, "code": exc.code, "message": exc.message})
    return {"crls": crls, "trust_list": publish_after_change(service)}


def revoke_certificate(
    service: TrustService,
    ident: str,
    reason: RevocationReason | str,
    *,
    actor: str,
    compromised_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """Revoke a certificate we issued (see the module docstring).

    :raises InvalidInputError: unknown reason, a past time without a compromise, the root.
    :raises ConflictError: ``certificate_already_revoked``.
    """
    reason = reason if isinstance(reason, RevocationReason) else RevocationReason.parse(reason)
    now = utcnow().replace(microsecond=0)
    with service.db.transaction() as session:
        row = find_certificate(session, ident)
        if row.issuer_id is None:
            raise InvalidInputError(
                "the region root cannot be revoked by a CRL; peers must be told to drop its pin",
                code="cannot_revoke_root",
            )
        if row.status == CertificateStatus.REVOKED.value:
            raise ConflictError(
                f"certificate {row.slug!r} is revoked already (since {_iso(row.revoked_at)})",
                code="certificate_already_revoked",
            )
        at = _compromise_time(row, reason, compromised_at, now)
        seals = _revoke_in_session(session, row, reason, at, actor=actor, now=now)
        issuer = session.get(CertificateRecord, row.issuer_id)
        assert issuer is not None
        shown = certificate_json(session, row, now=now)
        issuer_slug = issuer.slug
    return {"certificate": shown, "seals_revoked": seals, **_publish(service, [issuer_slug])}


# -- renewing -----------------------------------------------------------------------------------


def _subject(session: Session, row: CertificateRecord) -> SubjectSpec:
    cn = _CN[row.profile]
    if row.department_id is None:
        region = get_region(session)
        return SubjectSpec(common_name=f"{region.name}{cn}", organization=region.name)
    dept = session.get(Department, row.department_id)
    assert dept is not None
    return SubjectSpec(
        common_name=f"{dept.name}{cn}", organization=dept.name, organization_identifier=f"NTRCN-{dept.uscc}"
    )


def _new_key(service: TrustService, session: Session, row: CertificateRecord, actor: str) -> str:
    if row.department_id is not None:
        dept = session.get(Department, row.department_id)
        assert dept is not None
        label = f"d{dept.uscc}-{_SUFFIX[row.profile]}"
    else:
        label = f"r{get_region(session).code}-{row.slug}"
    return _ensure_key(service.keystore, session, f"{label}-{secrets.token_hex(4)}", actor, _algorithm(service))


def _step_aside(session: Session, row: CertificateRecord, now: dt.datetime, actor: str) -> str:
    """Free the certificate's name for its successor; the old row stays (it verifies what it signed)."""
    slug = row.slug
    if row.profile == "code_signer":
        from .federation.signer_rotation import _retire  # retired code signers stay listed while their codes live

        _retire(session, row, "code_signer", now, actor)
    else:
        row.slug = f"{row.slug}@{row.serial_hex}"
        session.flush()
    return slug


def renew_certificate(service: TrustService, ident: str, *, new_key: bool, actor: str) -> dict[str, Any]:
    """A new certificate for a department's or the region's service key, before the old one
    expires (see the module docstring).

    :raises ConflictError: revoked or replaced already; the trust-list signer (use its rotation).
    :raises InvalidInputError: a CA certificate.
    """
    now = utcnow().replace(microsecond=0)
    with service.db.transaction() as session:
        row = find_certificate(session, ident)
        if row.profile == "trust_list_signer":
            raise ConflictError(
                "the trust-list signer is renewed by announcing its successor first: run "
                "`trustsvc trust rotate-signer` now and again after peers refreshed",
                code="use_trust_list_rotation",
            )
        if row.profile not in RENEWABLE_PROFILES:
            raise InvalidInputError(
                f"a {row.profile} certificate is not renewed here (renewable: {', '.join(sorted(RENEWABLE_PROFILES))})",
                code="not_renewable",
            )
        if "@" in row.slug:
            raise ConflictError(f"certificate {row.slug!r} was replaced already", code="certificate_not_current")
        if row.status == CertificateStatus.REVOKED.value:
            raise ConflictError(
                f"certificate {row.slug!r} is revoked; a department is re-keyed instead (`trustsvc department rekey`)",
                code="certificate_revoked",
            )
        issuer = session.get(CertificateRecord, row.issuer_id)
        assert issuer is not None
        dept = session.get(Department, row.department_id) if row.department_id is not None else None
        key_ref = _new_key(service, session, row, actor) if new_key else row.key_ref
        assert key_ref is not None
        slug = _step_aside(session, row, now, actor)
        new = _certify(
            service,
            session,
            slug=slug,
            profile=row.profile,
            subject=_subject(session, row),
            key_ref=key_ref,
            issuer=issuer,
            actor=actor,
            department=dept,
        )
        if new_key and row.profile != "code_signer":
            _mark_revoked(session, row, RevocationReason.SUPERSEDED, now, actor=actor, now=now)
        remade = []
        if row.profile == "signer" and dept is not None:
            for seal in _bound_seals(session, [row], makers=False):
                if seal.status != SealStatus.ACTIVE.value or seal.valid_end <= now:
                    continue
                replacement = remake_seal_in_session(
                    service,
                    session,
                    seal,
                    actor=actor,
                    now=now,
                    old_becomes=SealStatus.SUPERSEDED,
                    effective_at=now,
                    reason=f"signer certificate renewed ({new.serial_hex})",
                )
                remade.append({"old": seal.esid, "new": replacement.esid})
        record(
            session,
            AuditEvent(
                actor=actor,
                action="certificate.renew",
                object_type="certificate",
                object_id=slug,
                key_ref=key_ref,
                details={
                    "old_serial": row.serial_hex,
                    "new_serial": new.serial_hex,
                    "new_key": new_key,
                    "seals": remade,
                },
            ),
        )
        result = {
            "certificate": certificate_json(session, new, now=now),
            "replaced": certificate_json(session, row, now=now),
            "seals_remade": remade,
        }
        issuer_slug = issuer.slug
    return {**result, **_publish(service, [issuer_slug] if new_key else [])}


# -- re-keying a department -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Rekeyed:
    result: dict[str, Any]
    ca_slug: str
    to_reissue: list[str]


def _rekey_in_session(
    service: TrustService,
    session: Session,
    uscc: str,
    at: dt.datetime | None,
    *,
    actor: str,
    now: dt.datetime,
    maker_compromised: bool,
) -> _Rekeyed:
    dept = session.execute(select(Department).where(Department.uscc == uscc.upper())).scalar_one_or_none()
    if dept is None:
        raise NotFoundError(f"no department {uscc}", code="department_not_found")
    old_maker, old_signer = department_certificates(session, dept)
    issuer = session.get(CertificateRecord, old_signer.issuer_id)
    assert issuer is not None
    reason = RevocationReason.KEY_COMPROMISE
    t = _compromise_time(old_signer, reason, at, now)
    if old_signer.status == CertificateStatus.REVOKED.value and old_signer.revoked_at is not None:
        t = min(t, old_signer.revoked_at)  # revoked already (by `cert revoke`): the earlier time holds
    token = secrets.token_hex(4)
    keys = {
        p: _ensure_key(service.keystore, session, f"d{dept.uscc}-{_SUFFIX[p]}-{token}", actor, _algorithm(service))
        for p in ("seal_maker", "signer")
    }
    new = {}
    for old in (old_maker, old_signer):
        slug = _step_aside(session, old, now, actor)
        new[old.profile] = _certify(
            service,
            session,
            slug=slug,
            profile=old.profile,
            subject=_subject(session, old),
            key_ref=keys[old.profile],
            issuer=issuer,
            actor=actor,
            department=dept,
        )
    if old_signer.status != CertificateStatus.REVOKED.value:
        _mark_revoked(session, old_signer, reason, t, actor=actor, now=now)
    if old_maker.status != CertificateStatus.REVOKED.value:
        if maker_compromised:
            _mark_revoked(session, old_maker, reason, _compromise_time(old_maker, reason, t, now), actor=actor, now=now)
        else:
            _mark_revoked(session, old_maker, RevocationReason.SUPERSEDED, now, actor=actor, now=now)
    seals: list[dict[str, str | None]] = []
    why = f"key compromise of department {dept.uscc}'s signer key from {_iso(t)}"
    for seal in _bound_seals(session, [old_maker, old_signer], makers=True):
        effective = min(max(t, seal.created_at.replace(microsecond=0)), now)
        if seal.status == SealStatus.ACTIVE.value and seal.valid_end > now:
            replacement = remake_seal_in_session(
                service,
                session,
                seal,
                actor=actor,
                now=now,
                old_becomes=SealStatus.REVOKED,
                effective_at=effective,
                reason=f"{why}; re-made on the new keys",
            )
            seals.append({"old": seal.esid, "new": replacement.esid, "revoked_from": _iso(effective)})
        else:
            change_seal_status_in_session(
                session, seal, SealStatus.REVOKED, actor=actor, effective_at=effective, reason=why
            )
            seals.append({"old": seal.esid, "new": None, "revoked_from": _iso(effective)})
    old_esids = [s["old"] for s in seals]
    to_reissue = (
        list(
            session.execute(
                select(LicenceRecord.identifier)
                .where(
                    LicenceRecord.department_id == dept.id,
                    LicenceRecord.status == "active",
                    LicenceRecord.issued_at >= t,
                    LicenceRecord.seal_esid.in_(old_esids),
                )
                .order_by(LicenceRecord.id)
            ).scalars()
        )
        if old_esids
        else []
    )
    record(
        session,
        AuditEvent(
            actor=actor,
            action="department.rekey",
            object_type="department",
            object_id=dept.uscc,
            details={
                "compromised_at": _iso(t),
                "old_signer": old_signer.serial_hex,
                "old_maker": old_maker.serial_hex,
                "new_signer": new["signer"].serial_hex,
                "new_maker": new["seal_maker"].serial_hex,
                "seals": seals,
                "maker_compromised": maker_compromised,
                "licences_to_reissue": to_reissue,
            },
        ),
    )
    result = {
        "department": dept.uscc,
        "compromised_at": _iso(t),
        "revoked": [certificate_json(session, c, now=now) for c in (old_signer, old_maker)],
        "certificates": [certificate_json(session, c, now=now) for c in (new["signer"], new["seal_maker"])],
        "seals": seals,
    }
    return _Rekeyed(result, issuer.slug, to_reissue)


def rekey_department(
    service: TrustService,
    uscc: str,
    *,
    compromised_at: dt.datetime,
    actor: str,
    maker_compromised: bool = False,
    reissue: bool = True,
) -> dict[str, Any]:
    """Re-key ``uscc`` after its signer key was compromised from ``compromised_at`` (see the
    module docstring). ``maker_compromised``: the seal-maker key was taken too (revoked from
    the same time rather than as superseded). ``reissue``: licences sealed with the old key
    since then become new versions sealed with the new one (the old versions superseded)."""
    now = utcnow().replace(microsecond=0)
    with service.db.transaction() as session:
        done = _rekey_in_session(
            service, session, uscc, compromised_at, actor=actor, now=now, maker_compromised=maker_compromised
        )
    published = _publish(service, [done.ca_slug])
    reissued: list[dict[str, Any]] = []
    if reissue:
        from .apikeys import SystemActor
        from .licences.service import change_licence

        for ident in done.to_reissue:
            try:
                row = change_licence(service, ident, principal_or_actor=SystemActor(actor))
                reissued.append({"old": ident, "new": row.identifier})
            except ConflictError as exc:
                reissued.append({"old": ident, "new": None, "code": exc.code, "message": exc.message})
    return {
        **done.result,
        **published,
        "licences_reissued": reissued,
        "licences_to_reissue": [] if reissue else done.to_reissue,
    }


def certificate_view(db: Database, ident: str) -> dict[str, Any]:
    """:func:`certificate_json` of the certificate ``ident`` (serial hex or SHA-256)."""
    with db.reader() as session:
        return certificate_json(session, find_certificate(session, ident))
