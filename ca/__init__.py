"""ca: SM2 X.509 for trustsvc: profiles, issuance, CSRs, CRLs and link-by-link path validation.

Builds every structure with asn1crypto (SM2 OIDs registered once, in :mod:`ca.oids`, when this
package is imported) and signs through an :class:`hsm.Signer`. Never touches a database,
Flask or the ``trustsvc`` domain; those call in.
"""

from __future__ import annotations

from .certs import (
    ParsedCertificate,
    load_certificates,
    parse_certificate,
    subject_key_identifier,
    verify_certificate_signature,
)
from .cms import (
    CMSError,
    CMSVerification,
    EnvelopeRecipient,
    SignedAndEnvelopedInfo,
    open_signed_and_enveloped,
    parse_signed_and_enveloped,
    sign_cms,
    verify_cms,
)
from .crl import CRL_REASONS, CRLRevocationChecker, ParsedCRL, RevokedEntry, build_crl, parse_crl, verify_crl
from .csr import ParsedCSR, build_csr, parse_csr, verify_csr
from .errors import CAError, CertificateError, CRLError, CSRError, SignatureAlgorithmError
from .issue import BACKDATE, issue_certificate, random_serial
from .names import SubjectSpec, build_name, format_name, name_key
from .ocsp import OCSPError, issuer_key_hashes
from .ocsp_client import (
    OCSPRevocationChecker,
    OCSPVerification,
    build_ocsp_request,
    ocsp_request_nonce,
    verify_ocsp_response,
)
from .ocsp_responder import OCSPResponder
from .oids import PKIXOID, SMOID, TRUSTSVC_ARC, TrustSvcEKU, register_oids  # first: registers OIDs
from .profiles import (
    CODE_SIGNER,
    ISSUED_BY,
    ISSUING_CA,
    OCSP,
    PROFILES,
    ROOT_CA,
    SEAL_MAKER,
    SIGNER,
    STATUS_LIST_SIGNER,
    TRUST_LIST_SIGNER,
    TSA,
    CertProfile,
)
from .results import Check, Indication, SubIndication
from .revocation import RevocationChecker, RevocationStatus
from .tsa import (
    TimeStampAuthority,
    TimeStampError,
    TimeStampResponse,
    TimeStampVerification,
    parse_timestamp_response,
    verify_timestamp_token,
)
from .tsa import build_request as build_timestamp_request
from .validate import SIGNING_KEY_USAGE, PathValidationResult, validate_path

__all__ = [
    # oids
    "PKIXOID",
    "SMOID",
    "TRUSTSVC_ARC",
    "TrustSvcEKU",
    "register_oids",
    # errors
    "CAError",
    "CertificateError",
    "CRLError",
    "CSRError",
    "SignatureAlgorithmError",
    # names and profiles
    "SubjectSpec",
    "build_name",
    "format_name",
    "name_key",
    "CertProfile",
    "PROFILES",
    "ISSUED_BY",
    "ROOT_CA",
    "ISSUING_CA",
    "SEAL_MAKER",
    "SIGNER",
    "TRUST_LIST_SIGNER",
    "STATUS_LIST_SIGNER",
    "CODE_SIGNER",
    "OCSP",
    "TSA",
    # certificates
    "ParsedCertificate",
    "parse_certificate",
    "load_certificates",
    "verify_certificate_signature",
    "subject_key_identifier",
    "issue_certificate",
    "random_serial",
    "BACKDATE",
    # CSRs
    "ParsedCSR",
    "build_csr",
    "parse_csr",
    "verify_csr",
    # CRLs and revocation
    "RevokedEntry",
    "ParsedCRL",
    "build_crl",
    "parse_crl",
    "verify_crl",
    "CRLRevocationChecker",
    "CRL_REASONS",
    "RevocationChecker",
    "RevocationStatus",
    # results and validation
    "Indication",
    "SubIndication",
    "Check",
    "PathValidationResult",
    "validate_path",
    "SIGNING_KEY_USAGE",
    # CMS / PKCS#7 (GM/T 0010, GB/T 35275)
    "CMSError",
    "CMSVerification",
    "EnvelopeRecipient",
    "SignedAndEnvelopedInfo",
    "sign_cms",
    "verify_cms",
    "parse_signed_and_enveloped",
    "open_signed_and_enveloped",
    # RFC 3161 time-stamping
    "TimeStampAuthority",
    "TimeStampError",
    "TimeStampResponse",
    "TimeStampVerification",
    "build_timestamp_request",
    "parse_timestamp_response",
    "verify_timestamp_token",
    # OCSP (RFC 6960)
    "OCSPError",
    "OCSPResponder",
    "OCSPRevocationChecker",
    "OCSPVerification",
    "build_ocsp_request",
    "issuer_key_hashes",
    "ocsp_request_nonce",
    "verify_ocsp_response",
]
