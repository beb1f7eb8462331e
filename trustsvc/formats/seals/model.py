"""What a parsed seal and a parsed SES signature say: frozen values, one per structure.

The parser fills these; verifiers and the API read them. Every byte string that a signature
covers is kept exactly as received (``signed_bytes``), never a re-encoding, because lenient
parsing normalises and a normalised encoding no longer verifies (docs/architecture.md, "Formats and standards").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

__all__ = [
    "SESVersion",
    "SealHeader",
    "CertDigest",
    "CertList",
    "ExtDataEntry",
    "SealPicture",
    "ParsedSeal",
    "TimeInfo",
    "ParsedSESSignature",
]

SESVersion = Literal["v1", "v4", "v5"]
"""``v1`` = GM/T 0031-2014, ``v4`` = GB/T 38540-2020, ``v5`` = GM/T 0031-2025."""


@dataclass(frozen=True)
class SealHeader:
    id: str
    """Always "ES" in conforming seals."""
    version: int
    vid: str
    """Vendor identifier of the seal system that made the seal."""


@dataclass(frozen=True)
class CertDigest:
    algorithm: str
    """The ``CertDigestObj.type`` text as stored, e.g. "SM3"."""
    value: bytes


@dataclass(frozen=True)
class CertList:
    """Who may apply the seal: the signer certificates (type 1) or their digests (type 2)."""

    type: int
    """``certListType``: 1 = certificates, 2 = certificate digests (v1 seals: always 1)."""
    certs: tuple[bytes, ...] = ()
    """Type 1 entries: the OCTET STRING contents (normally DER certificates)."""
    digests: tuple[CertDigest, ...] = ()
    """Type 2 entries."""


@dataclass(frozen=True)
class ExtDataEntry:
    oid: str
    critical: bool
    value: bytes


@dataclass(frozen=True)
class SealPicture:
    """The seal's image (``SES_ESPictrueInfo``): display size is in millimetres."""

    type: str
    """Image format name as stored, e.g. "PNG", "GIF", "JPG"."""
    data: bytes
    width_mm: int
    height_mm: int

    @property
    def width(self) -> int:
        return self.width_mm

    @property
    def height(self) -> int:
        return self.height_mm


@dataclass(frozen=True)
class ParsedSeal:
    """An electronic seal (电子印章, ``SESeal``) of any supported version."""

    version: SESVersion
    header: SealHeader
    es_id: str
    seal_type: int
    name: str
    cert_list: CertList
    create_date: datetime
    valid_start: datetime
    valid_end: datetime
    picture: SealPicture
    ext_datas: tuple[ExtDataEntry, ...]
    maker_cert: bytes
    """制章者 certificate (DER, as stored)."""
    sign_algorithm: str
    """Dotted OID of the maker's signature algorithm."""
    signed_value: bytes | None
    """The maker signature in canonical DER, or ``None`` when the stored value is not one."""
    signed_value_raw: bytes
    """The maker signature octets as stored."""
    signed_value_problem: str | None
    signed_bytes: bytes
    """Exactly what the maker signed: DER(SES_SealInfo) as received (v4/v5), or DER
    SEQUENCE {sealInfo, cert, alg} built from the received components (v1)."""
    seal_info_der: bytes
    """SES_SealInfo as received."""
    time_stamp: bytes | None
    """v5 seal time-stamp token (DER), when present."""
    der: bytes = field(repr=False)
    """The whole seal as received (what OFD's Seal.esl must equal)."""
    warnings: tuple[str, ...] = ()
    """Each tolerated deviation from the standard ASN.1."""

    @property
    def maker_signature(self) -> bytes | None:
        return self.signed_value


@dataclass(frozen=True)
class TimeInfo:
    """``TBS_Sign.timeInfo``: the signer's claimed signing time."""

    value: datetime | None
    """Aware UTC datetime, or ``None`` when timeInfo holds only a time-stamp token."""
    raw: bytes
    """The element as received (full TLV)."""
    form: str
    """How it was encoded, e.g. ``GeneralizedTime`` or ``BIT STRING (ASCII text)``."""
    token: bytes | None = None
    """A time-stamp token found inside a v1 timeInfo BIT STRING."""


@dataclass(frozen=True)
class ParsedSESSignature:
    """An electronic signature (电子签章, ``SES_Signature``) of any supported version."""

    version: SESVersion
    tbs_version: int
    seal: ParsedSeal
    """The seal embedded in ``TBS_Sign.eseal``."""
    seal_der: bytes = field(repr=False)
    """``TBS_Sign.eseal`` as received."""
    time_info: TimeInfo
    data_hash: bytes
    property_info: str
    signer_cert: bytes
    """v4/v5: ``SES_Signature.cert`` (outside TBS); v1: ``TBS_Sign.cert`` (signed)."""
    signature_algorithm: str
    signature: bytes | None
    """The signer's signature in canonical DER, or ``None`` when the stored value is not one."""
    signature_raw: bytes
    """The signature octets as stored; a time-stamp token's imprint covers these."""
    signature_problem: str | None
    signed_bytes: bytes
    """DER(TBS_Sign) exactly as received."""
    time_stamp: bytes | None
    """``SES_Signature.timeStamp`` token (DER), when present."""
    ext_datas: tuple[ExtDataEntry, ...]
    der: bytes = field(repr=False)
    warnings: tuple[str, ...] = ()
    """Deviations in the signature structure itself (the seal's are in ``seal.warnings``)."""
