"""SignedData read once: the constants, :class:`CMSError`, hashes, the result type and the parser.

The parser is the fuzz-safety boundary: every asn1crypto access of a SignedData happens in here,
and signing (:mod:`ca.cms.sign`), verification (:mod:`ca.cms.verify`) and envelopes
(:mod:`ca.cms.envelope`) work on the values it lifts out.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from asn1crypto import cms, core

import hsm

from .. import oids  # noqa: F401  (registration before any asn1crypto use)
from .._encoding import is_pem, unarmor_all
from ..certs import ParsedCertificate, parse_certificate
from ..errors import CAError, CertificateError
from ..names import format_name, name_key
from ..oids import PKIXOID, SMOID
from ..results import (
    Check,
    CheckResult,
    SignatureChecks,
)

CT_DATA = "1.2.840.113549.1.7.1"
CT_SIGNED_DATA = "1.2.840.113549.1.7.2"
CT_SIGNED_AND_ENVELOPED_DATA = "1.2.840.113549.1.7.4"
CT_TST_INFO = "1.2.840.113549.1.9.16.1.4"
"""id-ct-TSTInfo (RFC 3161)."""

HASH_OIDS: dict[str, str] = {
    "sm3": SMOID.SM3,
    "sha1": "1.3.14.3.2.26",
    "sha256": "2.16.840.1.101.3.4.2.1",
    "sha384": "2.16.840.1.101.3.4.2.2",
    "sha512": "2.16.840.1.101.3.4.2.3",
}
"""Hash algorithms trustsvc can compute, by hashlib name."""
_HASH_BY_OID = {oid: name for name, oid in HASH_OIDS.items()}
_CMS_DIGESTS = frozenset({"sm3", "sha256", "sha384", "sha512"})
"""Digests accepted for CMS messageDigest (SHA-1 is not)."""

_SM2_SIGNATURE_OIDS = frozenset({SMOID.SM2_WITH_SM3, SMOID.SM2_SIGN, SMOID.SM2})
_ECDSA_SIGNATURE_OIDS = frozenset({PKIXOID.ECDSA_WITH_SHA256})
_NULL_DER = b"\x05\x00"
_SIGNED_DATA_TYPES = {CT_SIGNED_DATA: "pkcs7", SMOID.GM_SIGNED_DATA: "gm"}
_ENVELOPE_TYPES = {CT_SIGNED_AND_ENVELOPED_DATA: "pkcs7", SMOID.GM_SIGNED_AND_ENVELOPED_DATA: "gm"}
_DATA_TYPES = frozenset({CT_DATA, SMOID.GM_DATA})
_DOTTED = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")
_MAX_INPUT = 64 * 1024 * 1024

_SM2_KEY_ENCRYPTION = frozenset({SMOID.SM2_ENCRYPT, SMOID.SM2})
_SM4 = "1.2.156.10197.1.104"
_SM4_ECB = "1.2.156.10197.1.104.1"
_SM4_CBC = "1.2.156.10197.1.104.2"

CMSShape = Literal[
    "detached_signed_attributes",
    "attached_signed_attributes",
    "attached_no_signed_attributes",
    "detached_no_signed_attributes",
]


class CMSError(CAError):
    """Bytes that are not a readable (signed / signed-and-enveloped) CMS structure, or a CMS
    operation that cannot be carried out (unknown cipher, undecryptable envelope, bad inputs)."""

    code = "bad_cms"


# ------------------------------------------------------------------------------------------
# hashes


def hash_name(oid: str) -> str | None:
    """hashlib name for a digest OID trustsvc computes (``sm3``, ``sha256`` ...), else None."""
    return _HASH_BY_OID.get(oid)


def hash_data(name: str, data: bytes) -> bytes:
    """``name`` digest of ``data`` (SM3 through hsm, the others through hashlib)."""
    if name == "sm3":
        return hsm.sm3(data)
    if name not in HASH_OIDS:
        raise CMSError(f"unsupported hash algorithm {name!r}", code="unsupported_hash")
    return hashlib.new(name, data).digest()


def signed_message_digest(cms_der: bytes) -> tuple[str | None, bytes] | None:
    """The first signer's digest algorithm (its hashlib name; None for one trustsvc does not
    compute) and its signed messageDigest, read lazily without the rest of the SignedData:
    for a signer that has just made the SignedData over content it does not want to hash again
    (a PDF signer digests the whole ``/ByteRange``). None without a messageDigest attribute.
    Nothing is verified here: :func:`~ca.cms.verify.verify_cms` does that."""
    signer_info = cms.ContentInfo.load(cms_der)["content"]["signer_infos"][0]
    for attribute in signer_info["signed_attrs"]:
        if attribute["type"].native == "message_digest":
            return hash_name(signer_info["digest_algorithm"]["algorithm"].dotted), bytes(attribute["values"][0].native)
    return None


# ------------------------------------------------------------------------------------------
# results


@dataclass(frozen=True)
class CMSVerification(SignatureChecks):
    """What :func:`verify_cms` found. ``valid`` says only that the signature and every
    structural check passed; certificate validity and chains are facts here (warnings) for the
    caller's path validation to judge."""

    content_type: str
    """eContentType, dotted (for an envelope: the encrypted content's type)."""
    encapsulated_content: bytes | None
    """The content carried inside (an envelope: the decrypted plaintext); None when detached."""
    signer_cert_der: bytes | None
    """The signer's certificate, found by ``sid``; None when not available."""
    certificates: tuple[bytes, ...]
    """Every certificate the structure carries, DER, in order."""
    signing_time: datetime | None
    """The signingTime signed attribute, UTC."""
    digest_algorithm: str
    """hashlib name (``sm3``) when known, else the dotted OID."""
    signature_algorithm: str
    """The signerInfo's signature algorithm, dotted."""
    shape: CMSShape
    checks: tuple[Check, ...]
    family: Literal["pkcs7", "gm"] = "pkcs7"
    """Which OID family the outer content type is from."""
    message_digest: bytes | None = None

    @property
    def signer_certificate(self) -> ParsedCertificate | None:
        """The signer certificate parsed by :func:`ca.parse_certificate`; None when absent or
        when only the lenient reader could read it (see ``cms.certificates[i]`` warnings)."""
        if not self.signer_cert_der:
            return None
        try:
            return parse_certificate(self.signer_cert_der)
        except CertificateError:
            return None


class _Checks:
    """Collects checks in order."""

    def __init__(self) -> None:
        self.items: list[Check] = []

    def add(self, name: str, result: CheckResult, detail: str) -> None:
        self.items.append(Check(name, result, detail))


# ------------------------------------------------------------------------------------------
# parsing (the fuzz-safety boundary: every asn1crypto access happens in here)


@dataclass(frozen=True)
class _ESSCertID:
    hash_oid: str
    cert_hash: bytes
    issuer_keys: tuple[str, ...]
    serial: int | None


@dataclass(frozen=True)
class _Signer:
    """One SignerInfo, every field lifted out of asn1crypto."""

    version: int
    sid_kind: str
    sid_issuer_key: str | None
    sid_issuer_str: str | None
    sid_serial: int | None
    sid_ski: bytes | None
    digest_oid: str
    digest_params: bytes
    signed_attrs_der: bytes | None
    """DER ``SET OF Attribute`` over the ORIGINAL attribute bytes (what was signed)."""
    attr_content_types: tuple[str, ...] | None
    attr_message_digests: tuple[bytes, ...] | None
    attr_signing_times: tuple[datetime, ...] | None
    attr_signing_cert_v2: tuple[_ESSCertID, ...] | None
    attr_signing_cert_v1: tuple[_ESSCertID, ...] | None
    signature_oid: str
    signature_params: bytes
    signature: bytes


@dataclass(frozen=True)
class _SignedParse:
    outer_type: str
    family: Literal["pkcs7", "gm"]
    version: int
    digest_oids: tuple[str, ...]
    econtent_type: str
    econtent: bytes | None
    certificates: tuple[bytes, ...]
    signers: tuple[_Signer, ...]


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def _to_der(data: bytes, what: str) -> bytes:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CMSError(f"expected {what} bytes, not {type(data).__name__}")
    data = bytes(data)
    if len(data) > _MAX_INPUT:
        raise CMSError(f"{what} larger than {_MAX_INPUT} bytes")
    if not is_pem(data):
        return data
    try:
        blocks = unarmor_all(data)
    except Exception as exc:
        raise CMSError(f"broken PEM armour: {_reason(exc)}") from exc
    if len(blocks) != 1:
        raise CMSError(f"expected one PEM block, found {len(blocks)}")
    return blocks[0][1]


def _params_der(algorithm: core.Sequence) -> bytes:
    params = algorithm["parameters"]
    return b"" if isinstance(params, core.Void) else params.dump()


def _ess_ids(values: core.SetOf, v2: bool) -> tuple[_ESSCertID, ...]:
    out: list[_ESSCertID] = []
    for value in values:
        for cert_id in value["certs"]:
            hash_oid = cert_id["hash_algorithm"]["algorithm"].dotted if v2 else HASH_OIDS["sha1"]
            issuer_serial = cert_id["issuer_serial"]
            issuer_keys: tuple[str, ...] = ()
            serial = None
            if not isinstance(issuer_serial, core.Void):
                issuer_keys = tuple(
                    name_key(gn.chosen) for gn in issuer_serial["issuer"] if gn.name == "directory_name"
                )
                serial = issuer_serial["serial_number"].native
            out.append(_ESSCertID(hash_oid, bytes(cert_id["cert_hash"].native), issuer_keys, serial))
    return tuple(out)


_ATTR_CONTENT_TYPE = "1.2.840.113549.1.9.3"
_ATTR_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
_ATTR_SIGNING_TIME = "1.2.840.113549.1.9.5"
_ATTR_SIGNING_CERT = "1.2.840.113549.1.9.16.2.12"
_ATTR_SIGNING_CERT_V2 = "1.2.840.113549.1.9.16.2.47"


def _attr_time(value: cms.Time) -> datetime:
    t = value.native
    if not isinstance(t, datetime) or t.tzinfo is None:
        raise ValueError("signingTime is not a time")
    return t.astimezone(UTC)


def _parse_signer(si: cms.SignerInfo) -> _Signer:
    sid = si["sid"]
    sid_issuer_key = sid_issuer_str = sid_serial = sid_ski = None
    if sid.name == "issuer_and_serial_number":
        ias = sid.chosen
        sid_issuer_key = name_key(ias["issuer"])
        try:
            sid_issuer_str = format_name(ias["issuer"])
        except Exception:
            sid_issuer_str = "(name not printable)"
        sid_serial = ias["serial_number"].native
    else:
        sid_ski = bytes(sid.chosen.native)
    attrs = si["signed_attrs"]
    signed_der = None
    content_types: tuple[str, ...] | None = None
    digests: tuple[bytes, ...] | None = None
    times: tuple[datetime, ...] | None = None
    v2: tuple[_ESSCertID, ...] | None = None
    v1: tuple[_ESSCertID, ...] | None = None
    if not isinstance(attrs, core.Void):
        signed_der = cms.CMSAttributes(contents=attrs.contents).dump()
        by_type: dict[str, cms.CMSAttribute] = {}
        for attr in attrs:
            oid = attr["type"].dotted
            if oid in by_type:  # RFC 5652 §5.3: an attribute type occurs once
                raise ValueError(f"signed attribute {oid} occurs more than once")
            by_type[oid] = attr
        if _ATTR_CONTENT_TYPE in by_type:
            content_types = tuple(v.dotted for v in by_type[_ATTR_CONTENT_TYPE]["values"])
        if _ATTR_MESSAGE_DIGEST in by_type:
            digests = tuple(bytes(v.native) for v in by_type[_ATTR_MESSAGE_DIGEST]["values"])
        if _ATTR_SIGNING_TIME in by_type:
            times = tuple(_attr_time(v) for v in by_type[_ATTR_SIGNING_TIME]["values"])
        if _ATTR_SIGNING_CERT_V2 in by_type:
            v2 = _ess_ids(by_type[_ATTR_SIGNING_CERT_V2]["values"], v2=True)
        if _ATTR_SIGNING_CERT in by_type:
            v1 = _ess_ids(by_type[_ATTR_SIGNING_CERT]["values"], v2=False)
    return _Signer(
        version=_version(si["version"]),
        sid_kind=sid.name,
        sid_issuer_key=sid_issuer_key,
        sid_issuer_str=sid_issuer_str,
        sid_serial=sid_serial,
        sid_ski=sid_ski,
        digest_oid=si["digest_algorithm"]["algorithm"].dotted,
        digest_params=_params_der(si["digest_algorithm"]),
        signed_attrs_der=signed_der,
        attr_content_types=content_types,
        attr_message_digests=digests,
        attr_signing_times=times,
        attr_signing_cert_v2=v2,
        attr_signing_cert_v1=v1,
        signature_oid=si["signature_algorithm"]["algorithm"].dotted,
        signature_params=_params_der(si["signature_algorithm"]),
        signature=bytes(si["signature"].native),
    )


def _certificate_ders(choices: Any) -> tuple[bytes, ...]:
    if isinstance(choices, core.Void):
        return ()
    return tuple(choice.chosen.dump() for choice in choices if choice.name == "certificate")


def _econtent_bytes(econtent: core.Asn1Value) -> bytes | None:
    """The eContent octets. A v1 SignedData gives asn1crypto's PKCS#7 view, where content types
    it does not know are an ANY: those must hold an OCTET STRING too (CMS, and every producer
    seen); PKCS#7 v1.5's bare non-data content is not supported."""
    if isinstance(econtent, core.Void):
        return None
    if isinstance(econtent, core.Any):
        econtent = econtent.parse(core.OctetString)
    if not isinstance(econtent, (core.OctetString, core.ParsableOctetString)):
        raise ValueError("eContent is not an OCTET STRING")
    return bytes(econtent)


def _version(value: core.Integer) -> int:
    native = value.native
    return int(native.lstrip("v")) if isinstance(native, str) else int(native)


def _parse_signed(data: bytes) -> _SignedParse:
    der = _to_der(data, "CMS")
    try:
        info = cms.ContentInfo.load(der, strict=True)
        outer = info["content_type"].dotted
        family = _SIGNED_DATA_TYPES.get(outer)
        if family is None:
            raise CMSError(f"content type {outer} is not SignedData", code="not_signed_data")
        sd = info["content"]
        if not isinstance(sd, cms.SignedData):
            raise ValueError("content is not a SignedData")
        encap = sd["encap_content_info"]
        econtent = encap["content"]
        parsed = _SignedParse(
            outer_type=outer,
            family=family,  # type: ignore[arg-type]
            version=_version(sd["version"]),
            digest_oids=tuple(a["algorithm"].dotted for a in sd["digest_algorithms"]),
            econtent_type=encap["content_type"].dotted,
            econtent=_econtent_bytes(econtent),
            certificates=_certificate_ders(sd["certificates"]),
            signers=tuple(_parse_signer(si) for si in sd["signer_infos"]),
        )
    except CMSError:
        raise
    except Exception as exc:
        raise CMSError(f"not a well-formed CMS SignedData: {_reason(exc)}") from exc
    if len(parsed.signers) != 1:
        raise CMSError(
            f"SignedData has {len(parsed.signers)} signerInfos; trustsvc verifies exactly one",
            code="unsupported_signer_count",
        )
    return parsed
