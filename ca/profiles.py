"""Certificate profiles: what each kind of trustsvc certificate may do, and for how long.

A profile fixes key usage, extended key usage (and its criticality), the CA flag, the path
length and the validity, so issuance takes no free-form extension input. The hierarchy the
service builds is::

    region root (root_ca)
      └─ issuing CAs (issuing_ca): the region "services" CA and one per department
           └─ every leaf profile (seal_maker, signer, trust_list_signer, status_list_signer,
              code_signer, ocsp, tsa)

:data:`ISSUED_BY` records that, for callers that want to enforce it.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

from .oids import PKIXOID, TrustSvcEKU

__all__ = [
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
    "add_years",
]

_CA_KEY_USAGE = frozenset({"key_cert_sign", "crl_sign"})
_SIGNING = frozenset({"digital_signature", "non_repudiation"})
_DIGITAL_SIGNATURE = frozenset({"digital_signature"})
_KNOWN_KEY_USAGES = frozenset(
    {
        "digital_signature",
        "non_repudiation",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    }
)


def add_years(start: datetime, years: int) -> datetime:
    """``start`` plus whole calendar years (29 February becomes 28 February when needed)."""
    year = start.year + years
    day = min(start.day, calendar.monthrange(year, start.month)[1])
    return start.replace(year=year, day=day)


@dataclass(frozen=True)
class CertProfile:
    """The fixed shape of one kind of certificate."""

    name: str
    description: str
    is_ca: bool
    key_usage: frozenset[str]
    """asn1crypto KeyUsage bit names; always marked critical."""
    validity_years: int
    path_length: int | None = None
    """pathLenConstraint for CAs (``None``: unlimited); ignored for leaves."""
    extended_key_usage: tuple[str, ...] = ()
    """Dotted OIDs, in the order written; empty means no EKU extension."""
    eku_critical: bool = False
    ocsp_no_check: bool = False
    """Add id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1), for OCSP responder certificates."""

    def __post_init__(self) -> None:
        unknown = self.key_usage - _KNOWN_KEY_USAGES
        if unknown or not self.key_usage:
            raise ValueError(f"profile {self.name}: bad key usage {sorted(unknown) or 'none'}")
        if self.is_ca and "key_cert_sign" not in self.key_usage:
            raise ValueError(f"profile {self.name}: a CA profile needs key_cert_sign")
        if not self.is_ca and "key_cert_sign" in self.key_usage:
            raise ValueError(f"profile {self.name}: only CA profiles may have key_cert_sign")
        if self.validity_years < 1:
            raise ValueError(f"profile {self.name}: validity must be at least one year")
        if self.eku_critical and not self.extended_key_usage:
            raise ValueError(f"profile {self.name}: critical EKU without any usage")

    def default_not_after(self, not_before: datetime) -> datetime:
        """End of validity for a certificate starting at ``not_before``."""
        return add_years(not_before, self.validity_years)


ROOT_CA = CertProfile(
    name="root_ca",
    description="region root CA (self-signed trust anchor)",
    is_ca=True,
    key_usage=_CA_KEY_USAGE,
    path_length=1,
    validity_years=20,
)
ISSUING_CA = CertProfile(
    name="issuing_ca",
    description="issuing CA: the region services CA or a department CA",
    is_ca=True,
    key_usage=_CA_KEY_USAGE,
    path_length=0,
    validity_years=10,
)
SEAL_MAKER = CertProfile(
    name="seal_maker",
    description="制章者: makes electronic seals (signs SES_Seal)",
    is_ca=False,
    key_usage=_SIGNING,
    extended_key_usage=(TrustSvcEKU.SEAL_MAKER,),
    validity_years=5,
)
SIGNER = CertProfile(
    name="signer",
    description="签章者: a department's signing key, applies seals to documents",
    is_ca=False,
    key_usage=_SIGNING,
    extended_key_usage=(PKIXOID.DOCUMENT_SIGNING, TrustSvcEKU.ESEAL_SIGNER),
    validity_years=3,
)
TRUST_LIST_SIGNER = CertProfile(
    name="trust_list_signer",
    description="signs the region's trust list",
    is_ca=False,
    key_usage=_DIGITAL_SIGNATURE,
    extended_key_usage=(TrustSvcEKU.TRUST_LIST_SIGNING,),
    validity_years=2,
)
STATUS_LIST_SIGNER = CertProfile(
    name="status_list_signer",
    description="signs licence status lists",
    is_ca=False,
    key_usage=_DIGITAL_SIGNATURE,
    extended_key_usage=(TrustSvcEKU.STATUS_LIST_SIGNING,),
    validity_years=2,
)
CODE_SIGNER = CertProfile(
    name="code_signer",
    description="signs service codes (TS1: COSE_Sign1)",
    is_ca=False,
    key_usage=_DIGITAL_SIGNATURE,
    extended_key_usage=(TrustSvcEKU.SERVICE_CODE_SIGNING,),
    validity_years=2,
)
OCSP = CertProfile(
    name="ocsp",
    description="OCSP responder (delegated by its CA)",
    is_ca=False,
    key_usage=_DIGITAL_SIGNATURE,
    extended_key_usage=(PKIXOID.OCSP_SIGNING,),
    ocsp_no_check=True,
    validity_years=1,
)
TSA = CertProfile(
    name="tsa",
    description="RFC 3161 time-stamping authority",
    is_ca=False,
    key_usage=_SIGNING,
    extended_key_usage=(PKIXOID.TIME_STAMPING,),
    eku_critical=True,  # RFC 3161 §2.3: the only EKU, and critical
    validity_years=5,
)

PROFILES: Mapping[str, CertProfile] = MappingProxyType(
    {
        p.name: p
        for p in (
            ROOT_CA,
            ISSUING_CA,
            SEAL_MAKER,
            SIGNER,
            TRUST_LIST_SIGNER,
            STATUS_LIST_SIGNER,
            CODE_SIGNER,
            OCSP,
            TSA,
        )
    }
)
"""Every profile by name."""

ISSUED_BY: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "root_ca": frozenset(),  # self-signed
        "issuing_ca": frozenset({"root_ca"}),
        **{name: frozenset({"issuing_ca"}) for name, p in PROFILES.items() if not p.is_ca},
    }
)
"""Which profile may issue which, in the service's hierarchy (empty: self-signed)."""
