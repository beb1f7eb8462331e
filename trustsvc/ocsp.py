"""The region's OCSP responder (RFC 6960) for every certificate its CAs issued, answered from
the certificate records (fresher than any CRL).

Who signs (RFC 6960 §4.2.2.2): a delegated responder must be certified by the CA whose
certificates it answers for. The region's ``ocsp`` certificate is issued by the services CA, so
it answers for the service certificates; for certificates of the root CA (issuing CAs, the
services CA) and of a department's issuing CA (seal-maker, signer) the CA answers itself, with
its own key, as it already signs its CRLs. A request naming certificates of several CAs is
answered ``unauthorized`` (one response has one signer; clients ask per issuer). An issuer
that is not ours is ``unauthorized``; a serial our CA never issued is ``unknown``; bytes that
are no OCSP request get ``malformedRequest``. Nothing here raises for bad input.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from ca.certs import ParsedCertificate
from ca.crl import CRL_REASONS
from ca.ocsp import issuer_key_hashes
from ca.ocsp_responder import OCSPResponder, ocsp_request_issuers, ocsp_status_response
from ca.revocation import RevocationStatus

from .context import TrustService
from .signing_keys import signer_problem, signing_key
from .storage.models import CertificateRecord

__all__ = ["respond_ocsp", "try_later_response", "OCSP_REQUEST_MEDIA_TYPE", "OCSP_RESPONSE_MEDIA_TYPE"]

OCSP_REQUEST_MEDIA_TYPE = "application/ocsp-request"
OCSP_RESPONSE_MEDIA_TYPE = "application/ocsp-response"
_DELEGATE = "ocsp"


def _status(row: CertificateRecord | None) -> RevocationStatus:
    if row is None:
        return RevocationStatus("unknown", source="not issued by this CA")
    if row.status == "revoked" and row.revoked_at is not None:
        reason = row.revocation_reason if row.revocation_reason in CRL_REASONS else None
        return RevocationStatus("revoked", revoked_at=row.revoked_at, reason=reason, source="certificate records")
    return RevocationStatus("good", source="certificate records")


def try_later_response() -> bytes:
    """The answer to a client over its rate limit: an unsigned OCSPResponse with status
    ``tryLater`` (RFC 6960 §4.2.1), which an OCSP client understands where an HTTP 429 would be
    a transport failure to it."""
    return ocsp_status_response("try_later")


def respond_ocsp(service: TrustService, request_der: bytes, *, now: dt.datetime | None = None) -> bytes:
    """An OCSPResponse DER for any request bytes (see the module docstring for who signs)."""
    asked = ocsp_request_issuers(request_der)
    if not asked:
        return ocsp_status_response("malformed_request")
    with service.db.reader() as session:
        cas = (
            session.execute(select(CertificateRecord).where(CertificateRecord.profile.in_(("root_ca", "issuing_ca"))))
            .scalars()
            .all()
        )
        delegate = session.execute(
            select(CertificateRecord).where(CertificateRecord.slug == _DELEGATE)
        ).scalar_one_or_none()
    by_hash = {(alg, value): ca for ca in cas for alg, value in issuer_key_hashes(ca.der).items()}
    ca_rows = {by_hash.get(item) for item in asked}
    if None in ca_rows or len(ca_rows) != 1:
        return ocsp_status_response("unauthorized")
    ca_row = ca_rows.pop()
    assert ca_row is not None
    with service.db.reader() as session:
        # a delegate that may not sign (revoked, expired) never does: the CA answers itself
        if (
            delegate is not None
            and delegate.key_ref
            and delegate.issuer_id == ca_row.id
            and signer_problem(session, delegate, now=now) is None
        ):
            responder_row = delegate
        else:
            responder_row = ca_row
        if responder_row.key_ref is None:
            return ocsp_status_response("internal_error")
        responder_signer = signing_key(service, session, responder_row, purpose="sign an OCSP response", now=now)
    try:
        responder = OCSPResponder(responder_signer, responder_row.der, [ca_row.der])
    except Exception:
        return ocsp_status_response("internal_error")

    def lookup(issuer: ParsedCertificate, serial: int) -> RevocationStatus:
        with service.db.reader() as session:
            row = session.execute(
                select(CertificateRecord).where(
                    CertificateRecord.issuer_id == ca_row.id,
                    CertificateRecord.serial_hex == format(serial, "x"),
                )
            ).scalar_one_or_none()
        return _status(row)

    return responder.respond(
        request_der, lookup, now=now, next_update=dt.timedelta(seconds=service.config.status.ocsp_next_update)
    )
