"""CMS / PKCS#7 SignedData with SM2, in both OID families, and GM/T 0010 signedAndEnvelopedData.

Why one module: trust lists (eContentType JSON), PDF signatures, GB/T 35275 OFD signatures and
RFC 3161 tokens (:mod:`ca.tsa`) all sign and verify the same SignedData; the quirks of the
Chinese producers are handled here once.

Building (:func:`sign_cms`): SM3 digest (SHA-256 for P-256 keys); signed attributes
contentType, messageDigest, signingTime and signingCertificateV2 (RFC 5035 ESSCertIDv2 naming
its hash algorithm, SM3 - a SHA-256 ID is the DEFAULT and so, in DER, left out); the signature
covers the DER ``SET OF`` the attributes; ``sid`` is issuerAndSerialNumber. The
signatureAlgorithm written is SM2-with-SM3 ``1.2.156.10197.1.501``: that is what GB/T 35275 and
GM/T 0015 use for certificates and what OpenSSL, GmSSL, iText-SM2 and ofdrw emit. GM/T 0010's
own ``sm2-1`` ``1.2.156.10197.1.301.1`` (CFCA SADK, YNCA) and the bare SM2 OID are accepted on
verification. Content types use PKCS#7 OIDs (``1.2.840.113549.1.7.x``) unless ``gm_oids`` asks
for GM/T 0010's (``1.2.156.10197.6.1.4.2.x``).

Verifying (:func:`verify_cms`) covers the shapes met in the wild:

* detached + signedAttrs (YNCA / GB/T 35275 OFD): ``messageDigest == H(content)`` and the
  signature over the signed attributes, re-tagged as a SET **from their original bytes**;
* attached content, no signedAttrs (CFCA SADK): the signature over the content itself;
* attached 32-byte SM3 hash of a file, no signedAttrs (tongz): the same rule, the content
  being the hash; comparing it with the file is the caller's business.

Tolerated with a warning: SM2-with-SM3 in ``digestAlgorithms`` (GmSSL#1701), a raw 64-byte
``r || s`` signature instead of DER, the PKCS#7 ``data`` / GM ``gm_data`` content types used
interchangeably. Everything else that is wrong is a failed :class:`~ca.results.Check`; input
that is not a SignedData at all raises :class:`CMSError`. Nothing else escapes, whatever the
bytes (the tests fuzz it). SM2 always uses the GM/T 0009 default ID ``1234567812345678``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from asn1crypto import algos, cms, core, tsp, x509

import hsm
from hsm import InvalidSignature, KeyAlgorithm

from . import oids  # noqa: F401  (registration before any asn1crypto use)
from ._encoding import is_pem, strip_micro, unarmor_all, utc
from ._signature import same_public_key
from .certs import ParsedCertificate, parse_certificate
from .errors import CAError, CertificateError
from .names import format_name, name_key
from .oids import PKIXOID, SMOID
from .results import (
    FAILED_CHECK,
    PASSED_CHECK,
    SKIPPED_CHECK,
    WARNING_CHECK,
    Check,
    CheckResult,
    SignatureChecks,
)

__all__ = [
    "CMSError",
    "CMSShape",
    "CMSVerification",
    "EnvelopeRecipient",
    "SignedAndEnvelopedInfo",
    "sign_cms",
    "verify_cms",
    "parse_signed_and_enveloped",
    "open_signed_and_enveloped",
    "HASH_OIDS",
    "hash_name",
    "hash_data",
    "CT_DATA",
    "CT_SIGNED_DATA",
    "CT_SIGNED_AND_ENVELOPED_DATA",
    "CT_TST_INFO",
]

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


# ------------------------------------------------------------------------------------------
# verification (pure Python over the lifted values, plus hsm)


@dataclass(frozen=True)
class _Cert:
    """What verification needs from a certificate in a SignedData.

    Built from :func:`parse_certificate` when it can read the certificate, else leniently from
    the TBS alone: some real certificates carry names ``ca.names`` cannot format (the tongz
    CEGN issuer has an x500UniqueIdentifier as UTF8String), and a CMS verifier only needs the
    key, the serial, the issuer and the validity to decide its own checks.
    """

    der: bytes
    spki: bytes
    serial: int
    issuer_key: str
    ski: bytes | None
    subject_str: str
    not_before: datetime
    not_after: datetime
    key_usage: frozenset[str] | None
    parsed: ParsedCertificate | None

    def valid_at(self, at: datetime) -> bool:
        return self.not_before <= at <= self.not_after


def _lenient_cert(der: bytes) -> _Cert:
    cert = x509.Certificate.load(der, strict=True)
    tbs = cert["tbs_certificate"]
    serial = tbs["serial_number"].native
    validity = tbs["validity"]
    not_before, not_after = validity["not_before"].native, validity["not_after"].native
    if not isinstance(serial, int) or not isinstance(not_before, datetime) or not isinstance(not_after, datetime):
        raise ValueError("serial or validity unreadable")
    try:
        subject_str = format_name(tbs["subject"])
    except Exception:
        subject_str = "(name not printable)"
    return _Cert(
        der=der,
        spki=tbs["subject_public_key_info"].dump(),
        serial=serial,
        issuer_key=name_key(tbs["issuer"]),
        ski=None,
        subject_str=subject_str,
        not_before=not_before.astimezone(UTC),
        not_after=not_after.astimezone(UTC),
        key_usage=None,
        parsed=None,
    )


def _parse_certs(ders: Iterable[bytes], checks: _Checks) -> list[_Cert]:
    out: list[_Cert] = []
    for i, der in enumerate(ders):
        try:
            c = parse_certificate(der)
        except CertificateError as exc:
            try:
                out.append(_lenient_cert(der))
            except Exception:
                checks.add(f"cms.certificates[{i}]", WARNING_CHECK, f"certificate unreadable, ignored: {exc.message}")
            else:
                checks.add(f"cms.certificates[{i}]", WARNING_CHECK, f"certificate read leniently ({exc.message})")
            continue
        out.append(
            _Cert(
                der=c.der,
                spki=c.spki,
                serial=c.serial,
                issuer_key=c.issuer_key,
                ski=c.ski,
                subject_str=c.subject_str,
                not_before=c.not_before,
                not_after=c.not_after,
                key_usage=c.key_usage if c.has_key_usage else None,
                parsed=c,
            )
        )
    return out


def _find_signer_cert(signer: _Signer, certs: Sequence[_Cert]) -> _Cert | None:
    for cert in certs:
        if signer.sid_kind == "issuer_and_serial_number":
            if cert.serial == signer.sid_serial and cert.issuer_key == signer.sid_issuer_key:
                return cert
        elif signer.sid_ski is not None and cert.ski == signer.sid_ski:
            return cert
    return None


def _digest_checks(parsed: _SignedParse, signer: _Signer, checks: _Checks) -> str | None:
    """Check the digest algorithms; return the hashlib name to use, or None when unusable."""
    digest: str | None
    if signer.digest_oid == SMOID.SM2_WITH_SM3:
        checks.add(
            "cms.digest_algorithm",
            WARNING_CHECK,
            "signerInfo digestAlgorithm is SM2-with-SM3 (1.2.156.10197.1.501), read as SM3",
        )
        digest = "sm3"
    else:
        digest = hash_name(signer.digest_oid)
        if digest in _CMS_DIGESTS and signer.digest_params in (b"", _NULL_DER):
            checks.add("cms.digest_algorithm", PASSED_CHECK, f"digest algorithm {digest}")
        else:
            checks.add("cms.digest_algorithm", FAILED_CHECK, f"digest algorithm {signer.digest_oid} is not accepted")
            digest = None
    listed = set(parsed.digest_oids)
    if signer.digest_oid in listed:
        if signer.digest_oid == SMOID.SM2_WITH_SM3:
            checks.add(
                "cms.digest_algorithms",
                WARNING_CHECK,
                "digestAlgorithms lists SM2-with-SM3 instead of SM3 (GmSSL#1701)",
            )
        else:
            checks.add("cms.digest_algorithms", PASSED_CHECK, "digestAlgorithms lists the signer's digest algorithm")
    elif digest == "sm3" and ({SMOID.SM3, SMOID.SM2_WITH_SM3} & listed):
        checks.add("cms.digest_algorithms", WARNING_CHECK, "digestAlgorithms lists SM2-with-SM3 for SM3 (GmSSL#1701)")
    else:
        checks.add(
            "cms.digest_algorithms",
            FAILED_CHECK,
            f"digestAlgorithms {sorted(listed)} lacks the signer's {signer.digest_oid}",
        )
    return digest


def _version_checks(parsed: _SignedParse | None, signer: _Signer, checks: _Checks) -> None:
    problems = []
    if parsed is not None and parsed.version not in (1, 3, 4, 5):
        problems.append(f"SignedData version {parsed.version}")
    expected = 1 if signer.sid_kind == "issuer_and_serial_number" else 3
    if signer.version != expected:
        problems.append(f"signerInfo version {signer.version} with a {signer.sid_kind} sid")
    if problems:
        checks.add("cms.version", FAILED_CHECK, "; ".join(problems) + " (RFC 5652 §5.1, §5.3)")
    else:
        checks.add("cms.version", PASSED_CHECK, "versions consistent")


def _ess_check(signer: _Signer, cert: _Cert | None, checks: _Checks) -> None:
    ids, which = signer.attr_signing_cert_v2, "signingCertificateV2"
    if ids is None:
        ids, which = signer.attr_signing_cert_v1, "signingCertificate"
    name = "cms.signed_attributes.signing_certificate"
    if ids is None:
        checks.add(name, SKIPPED_CHECK, "no signingCertificate(V2) attribute")
        return
    if cert is None:
        checks.add(name, SKIPPED_CHECK, f"{which} present but the signer certificate is not available")
        return
    if not ids:
        checks.add(name, FAILED_CHECK, f"{which} names no certificate")
        return
    first = ids[0]
    algorithm = hash_name(first.hash_oid)
    if algorithm is None:
        checks.add(name, FAILED_CHECK, f"{which} uses unsupported hash {first.hash_oid}")
        return
    if hash_data(algorithm, cert.der) != first.cert_hash:
        checks.add(name, FAILED_CHECK, f"{which} {algorithm} hash does not match the signer certificate")
        return
    if first.serial is not None and (
        first.serial != cert.serial or (first.issuer_keys and cert.issuer_key not in first.issuer_keys)
    ):
        checks.add(name, FAILED_CHECK, f"{which} issuerSerial does not name the signer certificate")
        return
    checks.add(name, PASSED_CHECK, f"{which} ({algorithm}) matches the signer certificate")


def _signed_attribute_checks(
    econtent_type: str, signer: _Signer, content: bytes | None, digest: str | None, checks: _Checks
) -> None:
    types = signer.attr_content_types
    if types is None or len(types) != 1:
        checks.add(
            "cms.signed_attributes.content_type", FAILED_CHECK, "contentType attribute missing or not single-valued"
        )
    elif types[0] == econtent_type:
        checks.add("cms.signed_attributes.content_type", PASSED_CHECK, f"contentType {types[0]} matches eContentType")
    elif {types[0], econtent_type} <= _DATA_TYPES:
        checks.add(
            "cms.signed_attributes.content_type",
            WARNING_CHECK,
            f"contentType {types[0]} vs eContentType {econtent_type}: PKCS#7 and GM/T 0010 'data' read as the same",
        )
    else:
        checks.add(
            "cms.signed_attributes.content_type",
            FAILED_CHECK,
            f"contentType {types[0]} differs from eContentType {econtent_type}",
        )
    digests = signer.attr_message_digests
    name = "cms.signed_attributes.message_digest"
    if digests is None or len(digests) != 1:
        checks.add(name, FAILED_CHECK, "messageDigest attribute missing or not single-valued")
    elif content is None:
        checks.add(name, SKIPPED_CHECK, "no content to hash")
    elif digest is None:
        checks.add(name, FAILED_CHECK, "digest algorithm unusable")
    elif hash_data(digest, content) == digests[0]:
        checks.add(name, PASSED_CHECK, f"messageDigest == {digest}(content)")
    else:
        checks.add(name, FAILED_CHECK, f"messageDigest != {digest}(content): the content is not what was signed")
    times = signer.attr_signing_times
    if times is not None and len(times) > 1:
        checks.add("cms.signed_attributes.signing_time", FAILED_CHECK, "signingTime has several values")
    elif times:
        checks.add("cms.signed_attributes.signing_time", PASSED_CHECK, f"signingTime {times[0].isoformat()}")


def _signature_der(signer: _Signer, checks: _Checks) -> bytes | None:
    try:
        hsm.decode_signature(signer.signature)
        return signer.signature
    except InvalidSignature:
        pass
    if len(signer.signature) == 64:
        try:
            der = hsm.signature_from_raw(signer.signature)
        except InvalidSignature:
            return None
        checks.add(
            "cms.signature_encoding", WARNING_CHECK, "raw 64-byte r||s signature, not DER SM2Signature (tolerated)"
        )
        return der
    return None


def _signature_check(signer: _Signer, cert: _Cert | None, message: bytes | None, checks: _Checks) -> None:
    name = "cms.signature"
    if cert is None:
        checks.add(name, FAILED_CHECK, "signer certificate not available: signature cannot be checked")
        return
    if message is None:
        checks.add(name, FAILED_CHECK, "no signed attributes and no content: nothing to check the signature over")
        return
    try:
        key = hsm.load_public_key(cert.spki)
    except hsm.HSMError as exc:
        checks.add(name, FAILED_CHECK, f"signer key unusable: {exc.message}")
        return
    allowed = _SM2_SIGNATURE_OIDS if key.algorithm is KeyAlgorithm.SM2 else _ECDSA_SIGNATURE_OIDS
    if signer.signature_oid not in allowed or signer.signature_params not in (b"", _NULL_DER):
        checks.add(
            name, FAILED_CHECK, f"signature algorithm {signer.signature_oid} does not fit a {key.algorithm.value} key"
        )
        return
    der = _signature_der(signer, checks)
    if der is None:
        checks.add(name, FAILED_CHECK, "signature is neither DER nor raw r||s")
        return
    try:
        key.verify(message, der)
    except InvalidSignature:
        checks.add(name, FAILED_CHECK, f"signature does not verify under {cert.subject_str!r}")
        return
    except hsm.HSMError as exc:
        checks.add(name, FAILED_CHECK, f"signature cannot be checked: {exc.message}")
        return
    what = "the signed attributes" if signer.signed_attrs_der is not None else "the content"
    checks.add(name, PASSED_CHECK, f"{signer.signature_oid} signature over {what} verifies under {cert.subject_str!r}")


def _certificate_facts(cert: _Cert, signing_time: datetime | None, checks: _Checks) -> None:
    span = f"{cert.not_before.isoformat()} .. {cert.not_after.isoformat()}"
    if signing_time is None:
        checks.add("cms.signer_certificate.valid_at_signing_time", SKIPPED_CHECK, "no signingTime")
    elif cert.valid_at(signing_time):
        checks.add("cms.signer_certificate.valid_at_signing_time", PASSED_CHECK, f"signingTime within {span}")
    else:
        checks.add("cms.signer_certificate.valid_at_signing_time", WARNING_CHECK, f"signingTime outside {span}")
    if cert.valid_at(datetime.now(UTC)):
        checks.add("cms.signer_certificate.valid_now", PASSED_CHECK, f"valid now ({span})")
    else:
        checks.add("cms.signer_certificate.valid_now", WARNING_CHECK, f"not valid now ({span})")
    if cert.key_usage is not None and not cert.key_usage & {"digital_signature", "non_repudiation"}:
        checks.add(
            "cms.signer_certificate.key_usage", WARNING_CHECK, f"key usage {sorted(cert.key_usage)} allows no signing"
        )


def _verify_signer(
    parsed: _SignedParse,
    *,
    content: bytes | None,
    econtent_type: str,
    extra_certs: Iterable[bytes],
    checks: _Checks,
) -> tuple[_Cert | None, str | None, datetime | None]:
    signer = parsed.signers[0]
    _version_checks(parsed, signer, checks)
    digest = _digest_checks(parsed, signer, checks)
    certs = _parse_certs((*parsed.certificates, *extra_certs), checks)
    cert = _find_signer_cert(signer, certs)
    if cert is None:
        sid = (
            f"issuer {signer.sid_issuer_str!r} serial {signer.sid_serial:x}"
            if signer.sid_kind == "issuer_and_serial_number" and isinstance(signer.sid_serial, int)
            else f"subjectKeyIdentifier {(signer.sid_ski or b'').hex()}"
        )
        checks.add("cms.signer_certificate", FAILED_CHECK, f"no certificate matches the sid ({sid})")
    else:
        checks.add("cms.signer_certificate", PASSED_CHECK, f"{cert.subject_str!r} (serial {cert.serial:x})")
    signing_time = signer.attr_signing_times[0] if signer.attr_signing_times else None
    message: bytes | None
    if signer.signed_attrs_der is not None:
        _signed_attribute_checks(econtent_type, signer, content, digest, checks)
        _ess_check(signer, cert, checks)
        message = signer.signed_attrs_der
    else:
        if econtent_type not in _DATA_TYPES:
            checks.add(
                "cms.signed_attributes",
                FAILED_CHECK,
                f"eContentType {econtent_type} requires signed attributes (RFC 5652 §5.3)",
            )
        message = content
    _signature_check(signer, cert, message, checks)
    if cert is not None:
        _certificate_facts(cert, signing_time, checks)
    return cert, digest, signing_time


def _shape(attached: bool, signed_attributes: bool) -> CMSShape:
    if attached:
        return "attached_signed_attributes" if signed_attributes else "attached_no_signed_attributes"
    return "detached_signed_attributes" if signed_attributes else "detached_no_signed_attributes"


def verify_cms(
    data: bytes,
    *,
    detached_content: bytes | None = None,
    certificates: Iterable[bytes] = (),
) -> CMSVerification:
    """Verify a CMS / PKCS#7 SignedData (DER or PEM) with exactly one signer.

    :param detached_content: the signed content when it is not carried inside; when it is
        also carried, the two are compared (``cms.detached_content``).
    :param certificates: extra certificates to find the signer among (DER or PEM, one each).
    :raises CMSError: not a readable SignedData (also for other content types).
    """
    parsed = _parse_signed(data)
    if detached_content is not None and not isinstance(detached_content, (bytes, bytearray, memoryview)):
        raise CMSError("detached_content must be bytes")
    extra = tuple(_to_der(c, "certificate") for c in certificates)
    checks = _Checks()
    family_name = "GM/T 0010" if parsed.family == "gm" else "PKCS#7"
    checks.add(
        "cms.content_type",
        PASSED_CHECK,
        f"{family_name} SignedData ({parsed.outer_type}), eContentType {parsed.econtent_type}",
    )
    content = parsed.econtent
    if detached_content is not None:
        detached = bytes(detached_content)
        if content is None:
            content = detached
        elif content == detached:
            checks.add("cms.detached_content", PASSED_CHECK, "given content equals the encapsulated content")
        else:
            checks.add("cms.detached_content", FAILED_CHECK, "given content differs from the encapsulated content")
    elif content is None:
        checks.add("cms.content", FAILED_CHECK, "detached signature and no content given")
    signer = parsed.signers[0]
    cert, digest, signing_time = _verify_signer(
        parsed, content=content, econtent_type=parsed.econtent_type, extra_certs=extra, checks=checks
    )
    return CMSVerification(
        content_type=parsed.econtent_type,
        encapsulated_content=parsed.econtent,
        signer_cert_der=cert.der if cert else None,
        certificates=parsed.certificates,
        signing_time=signing_time,
        digest_algorithm=digest or signer.digest_oid,
        signature_algorithm=signer.signature_oid,
        shape=_shape(parsed.econtent is not None, signer.signed_attrs_der is not None),
        checks=tuple(checks.items),
        family=parsed.family,
        message_digest=signer.attr_message_digests[0] if signer.attr_message_digests else None,
    )


# ------------------------------------------------------------------------------------------
# building


def _content_type_oid(content_type: str, gm_oids: bool) -> str:
    if content_type == "data":
        return SMOID.GM_DATA if gm_oids else CT_DATA
    if isinstance(content_type, str) and _DOTTED.match(content_type):
        return content_type
    try:
        return cms.ContentType(content_type).dotted
    except Exception as exc:
        raise CMSError(f"unknown content type {content_type!r}; give a dotted OID", code="bad_content_type") from exc


def _econtent_value(version: str, ct_oid: str, content: bytes) -> core.Asn1Value:
    """eContent as asn1crypto wants it: a v1 SignedData reads its content info as PKCS#7
    ContentInfo (``data`` is its OCTET STRING; other types an ANY, which does not add the
    ``[0]`` tag itself), v3 as CMS EncapsulatedContentInfo (a ParsableOctetString). Either way
    the bytes are encoded as ``[0] EXPLICIT OCTET STRING``."""
    if version != "v1":
        return core.ParsableOctetString(content)
    if cms.ContentType(ct_oid).native in cms.ContentInfo._oid_specs:
        return core.OctetString(content)
    return core.OctetString(content, explicit=0)


_V = TypeVar("_V", bound=core.Asn1Value)


def _frozen(value: _V) -> _V:
    """``value`` re-loaded from its own DER. asn1crypto keeps a freshly built structure
    "mutated" and re-encodes all of it each time a parent asks for its bytes; under the SET OF
    sorting of signed attributes that compounded to 5 ms for one signingCertificateV2."""
    return type(value).load(value.dump())


def _issuer_name(cert: ParsedCertificate) -> x509.Name:
    return x509.Name.load(cert.issuer.dump())  # a copy: the parsed certificate is shared


def sign_cms(
    content: bytes,
    *,
    signer: hsm.Signer,
    signer_cert: bytes | ParsedCertificate,
    extra_certs: Iterable[bytes | ParsedCertificate] = (),
    detached: bool = True,
    signed_attributes: bool = True,
    gm_oids: bool = False,
    content_type: str = "data",
    signing_time: datetime | None = None,
    include_certificates: bool = True,
) -> bytes:
    """Sign ``content``; return the ContentInfo DER of a SignedData.

    :param content_type: ``"data"`` (PKCS#7 or GM data per ``gm_oids``), a dotted OID (e.g. a
        JSON trust-list type) or an asn1crypto content-type name such as ``"tst_info"``.
    :param signed_attributes: False signs the content itself (CFCA SADK shape); only allowed
        for data content (RFC 5652 §5.3).
    :param signing_time: default now (UTC, whole seconds).
    :param include_certificates: False leaves ``certificates`` out (RFC 3161 certReq false).
    :raises CAError: bad inputs, a signer that does not hold the certificate's key, or a
        signature that does not verify afterwards (code ``signer_fault``).
    """
    if not isinstance(content, (bytes, bytearray, memoryview)):
        raise CMSError("content must be bytes")
    content = bytes(content)
    cert = parse_certificate(signer_cert)
    if not same_public_key(cert.spki, signer.public_key):
        raise CAError(f"the signer {signer.key_ref} does not hold the key of {cert.subject_str!r}", code="key_mismatch")
    ct_oid = _content_type_oid(content_type, gm_oids)
    if not signed_attributes and ct_oid not in _DATA_TYPES:
        raise CMSError(
            "content other than data needs signed attributes (RFC 5652 §5.3)", code="signed_attributes_required"
        )
    extras = [parse_certificate(c) for c in extra_certs]
    digest = "sm3" if signer.algorithm is KeyAlgorithm.SM2 else "sha256"
    digest_alg = algos.DigestAlgorithm({"algorithm": HASH_OIDS[digest]})
    try:
        when = strip_micro(utc(signing_time) if signing_time is not None else datetime.now(UTC))
    except (TypeError, ValueError) as exc:
        raise CMSError(f"signing_time: {exc}") from exc

    signed_attrs: cms.CMSAttributes | None = None
    if signed_attributes:
        time_value = cms.Time(name="utc_time" if 1950 <= when.year < 2050 else "generalized_time", value=when)
        ess = _frozen(
            tsp.ESSCertIDv2(
                {
                    "hash_algorithm": {"algorithm": HASH_OIDS[digest]},
                    "cert_hash": hash_data(digest, cert.der),
                    "issuer_serial": {
                        "issuer": [x509.GeneralName(name="directory_name", value=_issuer_name(cert))],
                        "serial_number": cert.serial,
                    },
                }
            )
        )
        attrs = cms.CMSAttributes(
            [
                {"type": "content_type", "values": [cms.ContentType(ct_oid)]},
                {"type": "message_digest", "values": [hash_data(digest, content)]},
                {"type": "signing_time", "values": [time_value]},
                {"type": "signing_certificate_v2", "values": [_frozen(tsp.SigningCertificateV2({"certs": [ess]}))]},
            ]
        )
        attrs_der = attrs.dump()  # DER: asn1crypto sorts the SET OF
        signature = signer.sign(attrs_der)
        signed_attrs = cms.CMSAttributes.load(attrs_der)
    else:
        signature = signer.sign(content)

    signer_info: dict[str, object] = {
        "version": "v1",
        "sid": cms.SignerIdentifier(
            name="issuer_and_serial_number",
            value={"issuer": _issuer_name(cert), "serial_number": cert.serial},
        ),
        "digest_algorithm": digest_alg,
        "signature_algorithm": {"algorithm": signer.signature_algorithm_oid},
        "signature": signature,
    }
    if signed_attrs is not None:
        signer_info["signed_attrs"] = signed_attrs
    # RFC 5652 §5.1: v1 for data; v3 for other eContentTypes. GM/T 0010 always says 1.
    version = "v1" if (ct_oid in _DATA_TYPES or gm_oids) else "v3"
    encap: dict[str, object] = {"content_type": cms.ContentType(ct_oid)}
    if not detached:
        encap["content"] = _econtent_value(version, ct_oid, content)
    signed: dict[str, object] = {
        "version": version,
        "digest_algorithms": [algos.DigestAlgorithm({"algorithm": HASH_OIDS[digest]})],
        "encap_content_info": encap,
        "signer_infos": [signer_info],
    }
    if include_certificates:
        ders = [cert.der] + [c.der for c in extras if c.der != cert.der]
        signed["certificates"] = [
            cms.CertificateChoices(name="certificate", value=x509.Certificate.load(d)) for d in ders
        ]
    outer = SMOID.GM_SIGNED_DATA if gm_oids else CT_SIGNED_DATA
    der = cms.ContentInfo({"content_type": cms.ContentType(outer), "content": cms.SignedData(signed)}).dump()

    check = verify_cms(
        der, detached_content=content if detached else None, certificates=[] if include_certificates else [cert.der]
    )
    if not check.valid:
        failed = "; ".join(f"{c.name}: {c.detail}" for c in check.checks if c.failed)
        raise CAError(f"the new SignedData does not verify ({failed})", code="signer_fault")
    return der


# ------------------------------------------------------------------------------------------
# GM/T 0010 signedAndEnvelopedData


class _AlgorithmIdentifier(core.Sequence):
    _fields = [("algorithm", core.ObjectIdentifier), ("parameters", core.Any, {"optional": True})]


class _LenientIssuerAndSerial(core.Sequence):
    """issuerAndSerialNumber whose issuer is kept raw: gmcert.org writes ``00 00`` there."""

    _fields = [("issuer", core.Any), ("serial_number", core.Integer)]


class _RecipientIdentifier(core.Choice):
    _alternatives = [
        ("issuer_and_serial_number", _LenientIssuerAndSerial),
        ("subject_key_identifier", core.OctetString, {"implicit": 0}),
    ]


class _KeyTransRecipientInfo(core.Sequence):
    _fields = [
        ("version", core.Integer),
        ("rid", _RecipientIdentifier),
        ("key_encryption_algorithm", _AlgorithmIdentifier),
        ("encrypted_key", core.OctetString),
    ]


class _RecipientInfos(core.SetOf):
    _child_spec = _KeyTransRecipientInfo


class _EncryptedContentInfo(core.Sequence):
    _fields = [
        ("content_type", core.ObjectIdentifier),
        ("content_encryption_algorithm", _AlgorithmIdentifier),
        ("encrypted_content", core.OctetString, {"implicit": 0, "optional": True}),
    ]


class _SignedAndEnvelopedData(core.Sequence):
    """PKCS#7 §11 / GM/T 0010 §9 SignedAndEnvelopedData with trustsvc's lenient recipients."""

    _fields = [
        ("version", core.Integer),
        ("recipient_infos", _RecipientInfos),
        ("digest_algorithms", cms.DigestAlgorithms),
        ("encrypted_content_info", _EncryptedContentInfo),
        ("certificates", cms.CertificateSet, {"implicit": 0, "optional": True}),
        ("crls", cms.RevocationInfoChoices, {"implicit": 1, "optional": True}),
        ("signer_infos", cms.SignerInfos),
    ]


class _RawContentInfo(core.Sequence):
    _fields = [("content_type", core.ObjectIdentifier), ("content", core.Any, {"explicit": 0, "optional": True})]


@dataclass(frozen=True)
class EnvelopeRecipient:
    """One recipientInfo of an envelope."""

    serial: int | None
    issuer: str | None
    """The issuer name as text, or None when it is not a readable Name (gmcert.org: ``00 00``)."""
    issuer_der: bytes
    ski: bytes | None
    key_encryption_algorithm: str
    encrypted_key: bytes


@dataclass(frozen=True)
class SignedAndEnvelopedInfo:
    """The parts of a signedAndEnvelopedData, before decryption."""

    content_type: str
    family: Literal["pkcs7", "gm"]
    version: int
    recipients: tuple[EnvelopeRecipient, ...]
    digest_algorithms: tuple[str, ...]
    encrypted_content_type: str
    content_encryption_algorithm: str
    content_encryption_parameters: bytes
    """DER of the AlgorithmIdentifier parameters, ``b""`` when absent."""
    encrypted_content: bytes
    certificates: tuple[bytes, ...]
    _signed: _SignedParse = field(repr=False)


def _recipient(ri: _KeyTransRecipientInfo) -> EnvelopeRecipient:
    rid = ri["rid"]
    serial = issuer = ski = None
    issuer_der = b""
    if rid.name == "issuer_and_serial_number":
        ias = rid.chosen
        serial_der = ias["serial_number"].dump()
        serial = ias["serial_number"].native
        issuer_der = ias.contents[: len(ias.contents) - len(serial_der)]
        try:
            name = x509.Name.load(issuer_der, strict=True)
            issuer = format_name(name)
        except Exception:
            issuer = None
    else:
        ski = bytes(rid.chosen.native)
    return EnvelopeRecipient(
        serial=serial,
        issuer=issuer,
        issuer_der=issuer_der,
        ski=ski,
        key_encryption_algorithm=ri["key_encryption_algorithm"]["algorithm"].dotted,
        encrypted_key=bytes(ri["encrypted_key"].native),
    )


def parse_signed_and_enveloped(data: bytes) -> SignedAndEnvelopedInfo:
    """Parse a PKCS#7 / GM/T 0010 signedAndEnvelopedData (DER or PEM) without decrypting.

    :raises CMSError: anything else, or malformed.
    """
    der = _to_der(data, "CMS")
    try:
        info = _RawContentInfo.load(der, strict=True)
        outer = info["content_type"].dotted
        family = _ENVELOPE_TYPES.get(outer)
        if family is None:
            raise CMSError(f"content type {outer} is not signedAndEnvelopedData", code="not_signed_and_enveloped")
        sed = info["content"].parse(_SignedAndEnvelopedData)
        eci = sed["encrypted_content_info"]
        alg = eci["content_encryption_algorithm"]
        encrypted = eci["encrypted_content"]
        if isinstance(encrypted, core.Void):
            raise ValueError("no encryptedContent")
        signed = _SignedParse(
            outer_type=outer,
            family=family,  # type: ignore[arg-type]
            version=sed["version"].native,
            digest_oids=tuple(a["algorithm"].dotted for a in sed["digest_algorithms"]),
            econtent_type=eci["content_type"].dotted,
            econtent=None,
            certificates=_certificate_ders(sed["certificates"]),
            signers=tuple(_parse_signer(si) for si in sed["signer_infos"]),
        )
        result = SignedAndEnvelopedInfo(
            content_type=outer,
            family=family,  # type: ignore[arg-type]
            version=signed.version,
            recipients=tuple(_recipient(ri) for ri in sed["recipient_infos"]),
            digest_algorithms=signed.digest_oids,
            encrypted_content_type=signed.econtent_type,
            content_encryption_algorithm=alg["algorithm"].dotted,
            content_encryption_parameters=_params_der(alg),
            encrypted_content=bytes(encrypted),
            certificates=signed.certificates,
            _signed=signed,
        )
    except CMSError:
        raise
    except Exception as exc:
        raise CMSError(f"not a well-formed signedAndEnvelopedData: {_reason(exc)}") from exc
    if len(signed.signers) != 1:
        raise CMSError(
            f"{len(signed.signers)} signerInfos; trustsvc verifies exactly one", code="unsupported_signer_count"
        )
    if not result.recipients:
        raise CMSError("no recipientInfo")
    return result


def _sm4_mode(info: SignedAndEnvelopedInfo) -> tuple[str, bytes | None]:
    """("ecb" | "cbc", IV). Bare SM4 ``1.2.156.10197.1.104`` is ECB without parameters and CBC
    with an IV (emmansun/gmsm ``pkcs.GetCipher``, which follows CFCA SADK)."""
    oid, params = info.content_encryption_algorithm, info.content_encryption_parameters
    if oid == _SM4_ECB or (oid == _SM4 and params in (b"", _NULL_DER)):
        return "ecb", None
    if oid in (_SM4, _SM4_CBC):
        try:
            iv = core.OctetString.load(params, strict=True).native
        except Exception as exc:
            raise CMSError("SM4-CBC parameters are not an OCTET STRING IV") from exc
        if not isinstance(iv, bytes) or len(iv) != 16:
            raise CMSError("SM4-CBC IV must be 16 bytes")
        return "cbc", iv
    raise CMSError(f"content encryption algorithm {oid} is not supported (SM4 ECB/CBC only)", code="unsupported_cipher")


def _sm4_decrypt(key: bytes, mode: str, iv: bytes | None, ciphertext: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    if len(key) != 16:
        raise CMSError(f"content-encryption key is {len(key)} bytes, SM4 needs 16", code="cannot_decrypt")
    if not ciphertext or len(ciphertext) % 16:
        raise CMSError("encrypted content is not a whole number of SM4 blocks", code="cannot_decrypt")
    cipher_mode = modes.ECB() if mode == "ecb" else modes.CBC(iv)  # type: ignore[arg-type]
    decryptor = Cipher(algorithms.SM4(key), cipher_mode).decryptor()
    return decryptor.update(ciphertext) + decryptor.finalize()


def _unpad(plaintext: bytes) -> bytes | None:
    """Strict PKCS#7 unpadding; None when the padding is not valid."""
    n = plaintext[-1]
    if not 1 <= n <= 16 or plaintext[-n:] != bytes([n]) * n:
        return None
    return plaintext[:-n]


def _load_pkcs8(data: bytes) -> Any:
    from hsm.openssl import OpenSSLSM2Key

    der = _to_der(data, "private key")
    try:
        return OpenSSLSM2Key.from_pkcs8(der)
    except hsm.HSMError as exc:
        raise CMSError(
            f"recipient key is not an SM2 PKCS#8 private key: {exc.message}", code="bad_recipient_key"
        ) from exc


def open_signed_and_enveloped(
    data: bytes,
    *,
    recipient_key_pkcs8: bytes | None = None,
    decrypt: Callable[[bytes], bytes] | None = None,
) -> tuple[bytes, CMSVerification]:
    """Decrypt a signedAndEnvelopedData and verify its signature over the plaintext.

    The content-encryption key is SM2-decrypted (GM/T 0009 DER C1C3C2) with
    ``recipient_key_pkcs8`` (DER or PEM) or by the ``decrypt`` callable (encryptedKey ->
    key, for keys held in an HSM); each SM2 recipientInfo is tried in turn. The content is
    SM4 (ECB or CBC); PKCS#7 padding is removed when valid, else the plaintext is kept whole
    with a warning (emmansun/gmsm does the same; gmcert.org's 64-byte key blob has none). The
    signature is checked as for :func:`verify_cms`, the plaintext being the content.

    :raises CMSError: unreadable, no recipient the key opens, unsupported cipher.
    """
    if (recipient_key_pkcs8 is None) == (decrypt is None):
        raise CMSError("give exactly one of recipient_key_pkcs8 and decrypt")
    info = parse_signed_and_enveloped(data)
    opener: Callable[[bytes], bytes]
    if recipient_key_pkcs8 is not None:
        key = _load_pkcs8(recipient_key_pkcs8)
        opener = key.decrypt
    else:
        opener = decrypt  # type: ignore[assignment]
    cek = None
    for index, recipient in enumerate(info.recipients):  # noqa: B007 - index is reported after the loop
        if recipient.key_encryption_algorithm not in _SM2_KEY_ENCRYPTION:
            continue
        try:
            cek = bytes(opener(recipient.encrypted_key))
            break
        except Exception:
            continue
    if cek is None:
        raise CMSError("no SM2 recipientInfo could be decrypted with the given key", code="cannot_decrypt")
    checks = _Checks()
    checks.add("envelope.key_decryption", PASSED_CHECK, f"content-encryption key opened (recipient {index})")
    mode, iv = _sm4_mode(info)
    padded = _sm4_decrypt(cek, mode, iv, info.encrypted_content)
    plaintext = _unpad(padded)
    checks.add("envelope.content_decryption", PASSED_CHECK, f"SM4-{mode.upper()} ({info.content_encryption_algorithm})")
    if plaintext is None:
        plaintext = padded
        checks.add(
            "envelope.padding", WARNING_CHECK, "no valid PKCS#7 padding: plaintext kept whole (as emmansun/gmsm does)"
        )
    else:
        checks.add("envelope.padding", PASSED_CHECK, "PKCS#7 padding removed")
    parsed = info._signed
    signer = parsed.signers[0]
    cert, digest, signing_time = _verify_signer(
        parsed, content=plaintext, econtent_type=info.encrypted_content_type, extra_certs=(), checks=checks
    )
    return plaintext, CMSVerification(
        content_type=info.encrypted_content_type,
        encapsulated_content=plaintext,
        signer_cert_der=cert.der if cert else None,
        certificates=info.certificates,
        signing_time=signing_time,
        digest_algorithm=digest or signer.digest_oid,
        signature_algorithm=signer.signature_oid,
        shape=_shape(True, signer.signed_attrs_der is not None),
        checks=tuple(checks.items),
        family=info.family,
        message_digest=signer.attr_message_digests[0] if signer.attr_message_digests else None,
    )
