"""Verifying a CMS SignedData (:func:`verify_cms`).

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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import x509

import hsm
from hsm import InvalidSignature, KeyAlgorithm

from .. import oids  # noqa: F401  (registration before any asn1crypto use)
from ..certs import ParsedCertificate, parse_certificate
from ..errors import CertificateError
from ..names import format_name, name_key
from ..oids import SMOID
from ..results import (
    FAILED_CHECK,
    PASSED_CHECK,
    SKIPPED_CHECK,
    WARNING_CHECK,
)
from .signed_data import (
    _CMS_DIGESTS,
    _DATA_TYPES,
    _ECDSA_SIGNATURE_OIDS,
    _NULL_DER,
    _SM2_SIGNATURE_OIDS,
    CMSError,
    CMSShape,
    CMSVerification,
    _Checks,
    _parse_signed,
    _SignedParse,
    _Signer,
    _to_der,
    hash_data,
    hash_name,
)

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
