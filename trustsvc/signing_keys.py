"""The one place a certificate and its key are picked for signing.

Every signing path (seal application and making, licence issuance and files, service codes,
CMS status and trust lists, time-stamps, OCSP responses, CRLs and certificates) asks
:func:`signing_key` for the signer of a certificate row. It refuses, with a 409 and a code
naming the problem, a certificate that is revoked, expired or not yet valid, or whose issuing
CA is: anything signed with it would fail verification anyway, and a revoked key may be in
someone else's hands. Checking here rather than at each caller means a new path cannot forget.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy.orm import Session

from hsm import Signer

from .context import TrustService
from .errors import ConflictError
from .storage.models import CertificateRecord, utcnow
from .times import iso_utc as _iso

__all__ = ["CertificateStatus", "SignerUnusableError", "signer_problem", "check_signer", "signing_key"]


class CertificateStatus(str, enum.Enum):
    """What ``certificates.status`` holds."""

    GOOD = "good"
    REVOKED = "revoked"


class SignerUnusableError(ConflictError):
    """The certificate (or a CA above it) may not sign now; ``code`` says why
    (``signer_certificate_revoked``, ``signer_certificate_expired``,
    ``signer_certificate_not_yet_valid``, ``signer_issuer_revoked``, ``signer_issuer_expired``)."""

    code = "signer_certificate_unusable"


def _own_problem(row: CertificateRecord, now: dt.datetime, what: str) -> tuple[str, str] | None:
    if row.status == CertificateStatus.REVOKED.value:
        when = f" since {_iso(row.revoked_at)}" if row.revoked_at is not None else ""
        reason = f" ({row.revocation_reason})" if row.revocation_reason else ""
        return "revoked", f"{what} {row.slug!r} is revoked{when}{reason}"
    if now > row.not_after:
        return "expired", f"{what} {row.slug!r} expired at {_iso(row.not_after)}"
    if now < row.not_before:
        return "not_yet_valid", f"{what} {row.slug!r} is valid only from {_iso(row.not_before)}"
    return None


def signer_problem(
    session: Session, row: CertificateRecord, *, now: dt.datetime | None = None
) -> tuple[str, str] | None:
    """``(code, message)`` when ``row`` may not sign at ``now``, else None. Walks up to the
    root: a certificate under a revoked or expired CA cannot make a signature that verifies."""
    now = now or utcnow()
    own = _own_problem(row, now, "the certificate")
    if own is not None:
        return f"signer_certificate_{own[0]}", own[1]
    seen = {row.id}
    issuer_id = row.issuer_id
    while issuer_id is not None and issuer_id not in seen:
        seen.add(issuer_id)
        issuer = session.get(CertificateRecord, issuer_id)
        if issuer is None:
            break
        problem = _own_problem(issuer, now, "its issuing CA")
        if problem is not None and problem[0] in ("revoked", "expired"):
            return f"signer_issuer_{problem[0]}", f"{problem[1]} (issuer of {row.slug!r})"
        issuer_id = issuer.issuer_id
    return None


def check_signer(session: Session, row: CertificateRecord, *, purpose: str, now: dt.datetime | None = None) -> None:
    """:raises SignerUnusableError: when ``row`` may not sign ``purpose`` now."""
    problem = signer_problem(session, row, now=now)
    if problem is not None:
        code, message = problem
        raise SignerUnusableError(f"cannot {purpose}: {message}", code=code)


def signing_key(
    service: TrustService, session: Session, row: CertificateRecord, *, purpose: str, now: dt.datetime | None = None
) -> Signer:
    """The key of ``row`` to sign ``purpose`` with, after :func:`check_signer`."""
    check_signer(session, row, purpose=purpose, now=now)
    if row.key_ref is None:
        raise SignerUnusableError(
            f"cannot {purpose}: the certificate {row.slug!r} has no key here", code="signer_key_missing"
        )
    return service.keystore.signer(row.key_ref)
