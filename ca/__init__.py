"""ca: SM2 X.509 for trustsvc: profiles, issuance, CSRs, CRLs and link-by-link path validation.

Builds every structure with asn1crypto (SM2 OIDs registered once, in :mod:`ca.oids`, when this
package is imported) and signs through an :class:`hsm.Signer`. Never touches a database,
Flask or the ``trustsvc`` domain; those call in.
"""

from __future__ import annotations

from .oids import PKIXOID, SMOID, TRUSTSVC_ARC, TrustSvcEKU, register_oids  # first: registers OIDs
from .certs import (
    ParsedCertificate,
    load_certificates,
    parse_certificate,
    subject_key_identifier,
    verify_certificate_signature,
)
from .crl import CRL_REASONS, CRLRevocationChecker, ParsedCRL, RevokedEntry, build_crl, parse_crl, verify_crl
from .csr import ParsedCSR, build_csr, parse_csr, verify_csr
from .errors import CAError, CertificateError, CRLError, CSRError, SignatureAlgorithmError
from .issue import BACKDATE, issue_certificate, random_serial
from .names import SubjectSpec, build_name, format_name, name_key
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
]
