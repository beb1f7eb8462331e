"""What this service trusts when it verifies: its own root, its CA certificates as helpers,
and revocation answered from its own certificate records (fresher than any CRL it publishes).

Peer regions' anchors join here once trust lists are imported.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from ca.certs import ParsedCertificate
from ca.revocation import RevocationStatus

from ..formats.trust import TrustContext
from ..storage import Database
from ..storage.models import CertificateRecord, Region

__all__ = ["DatabaseRevocationChecker", "local_trust_context"]


class DatabaseRevocationChecker:
    """Revocation status of certificates this service issued, straight from its records."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def check(self, cert: ParsedCertificate, issuer: ParsedCertificate, at: dt.datetime) -> RevocationStatus:
        with self._db.reader() as session:
            row = session.execute(
                select(CertificateRecord).where(CertificateRecord.sha256 == cert.sha256)
            ).scalar_one_or_none()
        if row is None:
            return RevocationStatus("unknown", source="not issued by this service")
        if row.status == "revoked" and row.revoked_at is not None:
            return RevocationStatus(
                "revoked", revoked_at=row.revoked_at, reason=row.revocation_reason, source="local certificate records"
            )
        return RevocationStatus("good", source="local certificate records")


def local_trust_context(db: Database) -> TrustContext:
    """Anchors = this region's root; helpers = its CA certificates; revocation = its records;
    seal status = its seals' histories. Needs only the database (no key store PIN): verifying
    never touches private keys."""
    from .snapshot import local_seal_book  # lazily: it pulls in the trust-list machinery

    with db.reader() as session:
        region = session.execute(select(Region)).scalars().first()
        cas = (
            session.execute(select(CertificateRecord).where(CertificateRecord.profile.in_(("root_ca", "issuing_ca"))))
            .scalars()
            .all()
        )
        seals = local_seal_book(session, f"this region ({region.code})" if region else "this service")
    anchors = tuple(c.der for c in cas if c.profile == "root_ca")
    info = {
        c.sha256: {
            "region": region.code if region else None,
            "name": region.name if region else None,
            "source": "local",
        }
        for c in cas
        if c.profile == "root_ca"
    }
    return TrustContext(
        anchors=anchors,
        intermediates=tuple(c.der for c in cas if c.profile == "issuing_ca"),
        revocation=DatabaseRevocationChecker(db),
        anchor_info=info,
        seal_status=seals,
    )
