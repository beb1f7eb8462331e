"""Errors raised by ``ca/``: one family under :class:`hsm.TrustSvcError`, each with a stable code.

Signature failures stay :class:`hsm.InvalidSignature` (cryptography's), so callers catch one
family for "does not verify" whichever layer found it. :class:`SignatureAlgorithmError` is both a
:class:`CAError` and an :class:`~hsm.InvalidSignature`: an algorithm trustsvc refuses is a reason a
signature cannot be accepted, and callers that only catch ``InvalidSignature`` still stop.
"""

from __future__ import annotations

from hsm import InvalidSignature, TrustSvcError

__all__ = [
    "CAError",
    "CertificateError",
    "CRLError",
    "CSRError",
    "SignatureAlgorithmError",
]


class CAError(TrustSvcError):
    """A certificate-authority operation was refused or its input is unusable."""

    code = "ca_error"
    http_status = 422  # a certificate, CRL, CMS, OCSP or time-stamp the caller gave is unusable


class CertificateError(CAError):
    """Bytes that are not a certificate trustsvc can read (malformed DER/PEM, bad fields)."""

    code = "bad_certificate"


class CRLError(CAError):
    """Bytes that are not a readable CRL, or a CRL that does not belong to the given issuer."""

    code = "bad_crl"


class CSRError(CAError):
    """Bytes that are not a readable PKCS#10 certification request."""

    code = "bad_csr"


class SignatureAlgorithmError(CAError, InvalidSignature):
    """A signature algorithm trustsvc does not accept, or one that does not fit the key."""

    code = "unsupported_signature_algorithm"
