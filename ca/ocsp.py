"""OCSP (RFC 6960) with SM2: what the responder (:mod:`ca.ocsp_responder`) and the client
(:mod:`ca.ocsp_client`: requests, response verification, a revocation checker) share: the
CertID hashes, the responder key id, the nonce and the error.

* CertIDs in requests may hash with SHA-1 (what OpenSSL and most clients send), SM3 or
  SHA-256; the responder answers each in the algorithm it was asked in.
* responderID is byKey: the SHA-1 of the responder's public key, as RFC 6960 §4.2.1 fixes.
"""

from __future__ import annotations

import hashlib

from asn1crypto import core

from . import oids  # noqa: F401  (registration before any asn1crypto use)
from .certs import ParsedCertificate, parse_certificate
from .cms import hash_data
from .errors import CAError

__all__ = [
    "OCSPError",
    "CERT_ID_HASHES",
    "BASIC_OID",
    "NONCE_OID",
    "MAX_NONCE",
    "issuer_key_hashes",
    "key_hash",
    "name_hash",
    "nonce_value",
    "responder_key_id",
]

CERT_ID_HASHES = ("sha1", "sm3", "sha256")
"""CertID hash algorithms understood (RFC 6960 §4.1.1 leaves the choice to the client)."""
BASIC_OID = "1.3.6.1.5.5.7.48.1.1"
NONCE_OID = "1.3.6.1.5.5.7.48.1.2"
MAX_NONCE = 32  # RFC 8954 §2.1


class OCSPError(CAError):
    """Bytes that are not an OCSP request / response, or a request that cannot be built."""

    code = "bad_ocsp"


def key_hash(cert: ParsedCertificate, algorithm: str) -> bytes:
    """Hash of the subjectPublicKey BIT STRING value (RFC 6960 §4.1.1 issuerKeyHash)."""
    return hash_data(algorithm, cert.public_key_point)


def name_hash(cert: ParsedCertificate, algorithm: str) -> bytes:
    """Hash of the DER of the certificate's subject name (issuerNameHash of what it issued)."""
    return hash_data(algorithm, cert.subject.dump())


def issuer_key_hashes(issuer: bytes | ParsedCertificate) -> dict[str, str]:
    """``{algorithm: hex issuerKeyHash}`` of ``issuer`` for every CertID hash understood; use it
    to index the issuers an :class:`OCSPResponder` lookup callable serves."""
    cert = parse_certificate(issuer)
    return {alg: key_hash(cert, alg).hex() for alg in CERT_ID_HASHES}


def responder_key_id(cert: ParsedCertificate) -> bytes:
    return hashlib.sha1(cert.public_key_point).digest()


def nonce_value(raw: bytes) -> bytes:
    """The nonce octets of an extension value: the inner OCTET STRING (RFC 8954), or the raw
    bytes when a client left that wrapper out."""
    try:
        inner = core.OctetString.load(raw, strict=True).native
        if isinstance(inner, bytes):
            return inner
    except Exception:
        pass
    return raw
