"""Making GB/T 38540 seals and applying them to documents.

:func:`make_seal` builds an ``SESeal`` (v4): the maker (制章者) signs DER(SES_SealInfo).
:func:`sign_document` builds an ``SES_Signature`` over a document: ``dataHash = SM3(data)``,
the signer (签章者) signs DER(TBS_Sign), and an optional time-stamp token over the signature
value goes into ``timeStamp [0]`` (explicit, as ofdrw emits it).

Both refuse, with a :class:`SealingError` code, what a verifier would reject anyway: a key
that does not match its certificate, a signer the seal's certList does not name, a time
outside the seal's validity or the certificates', a seal whose own signature fails. Each
result is verified again before it is returned, so a faulty signer cannot emit a seal or
signature nobody can verify.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from asn1crypto import core
from asn1crypto import parser as asn1_parser

import hsm
from ca.certs import ParsedCertificate, parse_certificate
from ca.errors import CertificateError
from ca.validate import SIGNING_KEY_USAGE
from trustsvc.formats.trust import aware

from .asn1 import (
    CertDigestObj,
    SESealV4,
    SESSealInfoV4,
)
from .errors import SealingError
from .model import ParsedSeal, SealPicture
from .parse import parse_seal

__all__ = [
    "SealSpec",
    "SealPicture",
    "SignedDocument",
    "make_seal",
    "sign_document",
    "sign_document_parts",
    "Timestamper",
    "CERT_DIGEST_TYPE",
]

Timestamper = Callable[[bytes], bytes]
"""``timestamper(signature_value) -> time-stamp token DER`` (messageImprint over the value)."""

CERT_DIGEST_TYPE = "SM3"
"""``CertDigestObj.type`` written for certListType 2."""


@functools.lru_cache(maxsize=256)
def same_public_key(a: bytes, b: bytes) -> bool:
    """Both SubjectPublicKeyInfos carry the same key (SM2 has two legitimate SPKI forms).
    Cached: parsing and checking the points cost a fifth of a bulk issuance's time."""
    try:
        return hsm.parse_spki(a).canonical == hsm.parse_spki(b).canonical
    except hsm.TrustSvcError:
        return False


def _strip(value: datetime) -> datetime:
    return aware(value).replace(microsecond=0)


@dataclass(frozen=True)
class SealSpec:
    """What a seal says. Validated on construction; times are stored in UTC, to the second."""

    es_id: str
    """电子印章数据唯一标识编码 (IA5String: ASCII)."""
    name: str
    """The seal name as registered with the public security bureau (UTF8String)."""
    seal_type: int
    """Business-defined seal type (e.g. 1 official seal, 2 personal; GB/T 38540 leaves it open)."""
    vid: str
    """Vendor id of the seal system (ASCII)."""
    signer_certs: tuple[bytes, ...]
    """The certificates (DER) allowed to apply the seal."""
    picture: SealPicture
    valid_start: datetime
    valid_end: datetime
    cert_list_type: int = 1
    """1: the certificates themselves; 2: their SM3 digests (CertDigestObj type "SM3")."""
    create_date: datetime | None = None
    """Default: now."""

    def __post_init__(self) -> None:
        for label, value in (("es_id", self.es_id), ("vid", self.vid)):
            if not isinstance(value, str) or not value or not value.isascii() or not value.isprintable():
                raise SealingError(f"{label} must be non-empty printable ASCII (IA5String)", code="bad_seal_spec")
        if not isinstance(self.name, str) or not self.name.strip():
            raise SealingError("a seal needs a name", code="bad_seal_spec")
        if isinstance(self.seal_type, bool) or not isinstance(self.seal_type, int) or not 0 < self.seal_type < 2**31:
            raise SealingError("seal_type must be a positive integer", code="bad_seal_spec")
        if self.cert_list_type not in (1, 2):
            raise SealingError("cert_list_type must be 1 (certificates) or 2 (digests)", code="bad_seal_spec")
        if not self.signer_certs:
            raise SealingError("a seal must name at least one signer certificate", code="bad_seal_spec")
        for i, der in enumerate(self.signer_certs):
            try:
                parse_certificate(der)
            except CertificateError as exc:
                raise SealingError(
                    f"signer certificate #{i} is unreadable: {exc.message}", code="bad_seal_spec"
                ) from exc
        if len(set(self.signer_certs)) != len(self.signer_certs):
            raise SealingError("signer certificates must not repeat", code="bad_seal_spec")
        if not isinstance(self.picture, SealPicture) or not self.picture.data:
            raise SealingError("a seal needs a picture", code="bad_seal_spec")
        if not self.picture.type.isascii() or self.picture.width_mm <= 0 or self.picture.height_mm <= 0:
            raise SealingError("picture type must be ASCII and its size positive (mm)", code="bad_seal_spec")
        object.__setattr__(self, "signer_certs", tuple(bytes(c) for c in self.signer_certs))
        object.__setattr__(self, "valid_start", _strip(self.valid_start))
        object.__setattr__(self, "valid_end", _strip(self.valid_end))
        create = _strip(self.create_date) if self.create_date is not None else _strip(datetime.now(UTC))
        object.__setattr__(self, "create_date", create)
        if self.valid_start >= self.valid_end:
            raise SealingError("valid_start must be before valid_end", code="bad_seal_spec")
        if create > self.valid_end:
            raise SealingError("create_date is after valid_end", code="bad_seal_spec")


def _cert(der: bytes, role: str) -> ParsedCertificate:
    try:
        return parse_certificate(der)
    except CertificateError as exc:
        raise SealingError(f"{role} certificate is unreadable: {exc.message}", code="bad_certificate") from exc


def _usable_at(cert: ParsedCertificate, at: datetime, role: str) -> None:
    if not cert.valid_at(at):
        raise SealingError(
            f"{role} certificate {cert.subject_str!r} is not valid at {at.isoformat()} "
            f"({cert.not_before.isoformat()} .. {cert.not_after.isoformat()})",
            code=f"{role}_certificate_invalid",
        )
    if cert.has_key_usage and not cert.key_usage & SIGNING_KEY_USAGE:
        raise SealingError(
            f"{role} certificate {cert.subject_str!r} may not sign (keyUsage {sorted(cert.key_usage)})",
            code=f"{role}_certificate_invalid",
        )


def _cert_list(spec: SealSpec) -> dict[str, object]:
    if spec.cert_list_type == 1:
        return {"cert_list_type": 1, "cert_list": {"certs": list(spec.signer_certs)}}
    digests = [CertDigestObj({"type": CERT_DIGEST_TYPE, "value": hsm.sm3(c)}) for c in spec.signer_certs]
    return {"cert_list_type": 2, "cert_list": {"cert_digest_list": digests}}


def make_seal(spec: SealSpec, *, maker_signer: hsm.Signer, maker_cert: bytes) -> bytes:
    """A GB/T 38540 (v4) ``SESeal`` in DER, signed by the seal maker.

    :raises SealingError: ``maker_key_mismatch`` (signer does not hold the certificate's key),
        ``maker_certificate_invalid`` (not valid at ``create_date`` or may not sign),
        ``bad_certificate``, ``signer_fault``.
    """
    maker = _cert(maker_cert, "maker")
    if not same_public_key(maker.spki, maker_signer.public_key):
        raise SealingError(
            f"the maker signer {maker_signer.key_ref} does not hold the key of {maker.subject_str!r}",
            code="maker_key_mismatch",
        )
    assert spec.create_date is not None
    _usable_at(maker, spec.create_date, "maker")
    prop = {
        "type": spec.seal_type,
        "name": spec.name,
        **_cert_list(spec),
        "create_date": spec.create_date,
        "valid_start": spec.valid_start,
        "valid_end": spec.valid_end,
    }
    seal_info = SESSealInfoV4(
        {
            "header": {"id": "ES", "version": 4, "vid": spec.vid},
            "es_id": spec.es_id,
            "property": prop,
            "picture": {
                "type": spec.picture.type,
                "data": spec.picture.data,
                "width": spec.picture.width_mm,
                "height": spec.picture.height_mm,
            },
        }
    )
    seal_info_der = seal_info.dump()
    signed_value = maker_signer.sign(seal_info_der)
    try:
        hsm.verify(maker.spki, seal_info_der, signed_value)
    except hsm.InvalidSignature as exc:
        raise SealingError(
            f"the maker signer {maker_signer.key_ref} produced a signature that does not verify", code="signer_fault"
        ) from exc
    return SESealV4(
        {
            "eseal_info": seal_info,
            "cert": maker.der,
            "sign_alg_id": maker_signer.signature_algorithm_oid,
            "signed_value": signed_value,
        }
    ).dump()


def _listed(seal: ParsedSeal, signer_der: bytes) -> bool:
    if seal.cert_list.type == 1 or not seal.cert_list.digests:
        return signer_der in seal.cert_list.certs
    for entry in seal.cert_list.digests:
        kind = entry.algorithm.strip().upper().replace("-", "")
        if kind in ("SM3", "1.2.156.10197.1.401") and hsm.sm3(signer_der) == entry.value:
            return True
        if kind in ("SHA256", "2.16.840.1.101.3.4.2.1") and hashlib.sha256(signer_der).digest() == entry.value:
            return True
    return False


@functools.lru_cache(maxsize=256)
def _usable_seal(seal: bytes) -> ParsedSeal:
    """The parsed seal, once its maker signature verified. Cached per DER: a department applies
    the same seal to every licence, and re-parsing and re-verifying it each time was a third of
    the cost of an issuance. Failures are not cached (they raise)."""
    parsed = parse_seal(seal)
    if parsed.version == "v1":
        raise SealingError(
            "a GM/T 0031-2014 seal cannot go into a GB/T 38540 signature", code="unsupported_seal_version"
        )
    maker = _cert(parsed.maker_cert, "maker")
    if parsed.signed_value is None:
        raise SealingError(f"the seal's signature is unusable: {parsed.signed_value_problem}", code="seal_invalid")
    try:
        hsm.verify(maker.spki, parsed.signed_bytes, parsed.signed_value)
    except (hsm.InvalidSignature, hsm.TrustSvcError) as exc:
        raise SealingError("the seal's maker signature does not verify", code="seal_invalid") from exc
    return parsed


@dataclass(frozen=True)
class SignedDocument:
    """An ``SES_Signature`` with what its callers would otherwise work out again over its 80 KB:
    where the seal sits in it (a licence row stores the signature without it) and its SHA-256
    (the audit event names it)."""

    der: bytes
    seal_offset: int
    sha256: bytes


_VERSION_DER = {4: core.Integer(4).dump(), 5: core.Integer(5).dump()}


@dataclass
class _HashedThroughSeal:
    """A hash fed with the bytes up to the end of a seal; never updated (callers take a copy)."""

    state: Any
    proven: bool = False
    """Set once a whole DER hashed afresh gave what this state gave (see :func:`sign_document_parts`)."""


@functools.lru_cache(maxsize=1024)
def _hashed_through_seal(kind: str, spki: bytes, head: bytes, seal: bytes) -> _HashedThroughSeal:
    """``head`` and then the seal, hashed.

    A department's signatures differ only after their seal: the TBS_Sign is its length header,
    the version, the seal, then a few hundred bytes of time, data hash and property. So the
    seal's 80 KB are hashed once per key and length header, not once per signature (three
    times per licence: SM3 for the signature, its self-check, SHA-256 for the audit). The key
    names the whole prefix (the seal's bytes are shared with :func:`_usable_seal`'s, so an
    entry costs little): a few entries a seal, as the outer length moves with the signature's
    and the time-stamp's lengths."""
    h = hsm.load_public_key(spki).message_hash() if kind == "signed" else hashlib.new(kind)
    h.update(head)
    h.update(seal)
    return _HashedThroughSeal(h)


os.register_at_fork(after_in_child=_hashed_through_seal.cache_clear)  # no hash copied mid-fork


def _sequence(contents: bytes) -> tuple[bytes, int]:
    """DER ``SEQUENCE`` of ``contents`` and the length of its header."""
    der = asn1_parser.emit(0, 1, 16, contents)
    return der, len(der) - len(contents)


def sign_document(
    data: bytes,
    *,
    seal: bytes,
    signer: hsm.Signer,
    signer_cert: bytes,
    property_info: str,
    time: datetime | None = None,
    timestamper: Timestamper | None = None,
) -> bytes:
    """An ``SES_Signature`` (v4, or v5-shaped for a v5 seal) over ``data``, in DER; see
    :func:`sign_document_parts`."""
    return sign_document_parts(
        data,
        seal=seal,
        signer=signer,
        signer_cert=signer_cert,
        property_info=property_info,
        time=time,
        timestamper=timestamper,
    ).der


def sign_document_parts(
    data: bytes,
    *,
    seal: bytes,
    signer: hsm.Signer,
    signer_cert: bytes,
    property_info: str,
    time: datetime | None = None,
    timestamper: Timestamper | None = None,
) -> SignedDocument:
    """An ``SES_Signature`` (v4, or v5-shaped for a v5 seal) over ``data``.

    The DER is put together from its fields' asn1crypto encodings around the seal's own bytes,
    which go in unchanged (a seal re-encoded would not be what its maker signed), and the parts
    before and after the seal are hashed around a cached hash of it (:func:`_hashed_through_seal`).

    :param property_info: what was signed (for OFD: the Signature.xml path); IA5String.
    :param time: the signing time written to ``timeInfo``; default now.
    :param timestamper: returns a time-stamp token over the signature value.
    :raises SealingError: ``signer_not_in_seal``, ``outside_seal_validity``,
        ``signer_key_mismatch``, ``signer_certificate_invalid``, ``seal_invalid``,
        ``unsupported_seal_version``, ``bad_property_info``, ``signer_fault``.
    :raises trustsvc.formats.seals.errors.SESFormatError: ``seal`` is not a seal.
    """
    parsed = _usable_seal(bytes(seal))
    if not isinstance(property_info, str) or not property_info.isascii() or not property_info:
        raise SealingError("property_info must be non-empty ASCII (IA5String)", code="bad_property_info")
    cert = _cert(signer_cert, "signer")
    if not same_public_key(cert.spki, signer.public_key):
        raise SealingError(
            f"the signer {signer.key_ref} does not hold the key of {cert.subject_str!r}", code="signer_key_mismatch"
        )
    if not _listed(parsed, cert.der):
        raise SealingError(
            f"{cert.subject_str!r} is not in the certList of seal {parsed.name!r}: not authorised to apply it",
            code="signer_not_in_seal",
        )
    when = _strip(time) if time is not None else _strip(datetime.now(UTC))
    if not parsed.valid_start <= when <= parsed.valid_end:
        raise SealingError(
            f"signing time {when.isoformat()} is outside the seal's validity "
            f"({parsed.valid_start.isoformat()} .. {parsed.valid_end.isoformat()})",
            code="outside_seal_validity",
        )
    _usable_at(cert, when, "signer")
    # TBS_Sign ::= SEQUENCE { version, eseal, timeInfo, dataHash, propertyInfo } (TBSSignV4/V5)
    version = _VERSION_DER[5 if parsed.version == "v5" else 4]
    after_seal = (
        core.GeneralizedTime(when).dump()
        # The hash of the signature algorithm (verify.py reads it back that way): SM3 for
        # SM2, SHA-256 for a P-256 signer on a token without SM2.
        + core.OctetBitString(hashlib.new(signer.algorithm.hash_name, bytes(data)).digest()).dump()
        + core.IA5String(property_info).dump()
    )
    tbs_der, tbs_header = _sequence(version + parsed.der + after_seal)
    before_seal = tbs_der[: tbs_header + len(version)]
    through = _hashed_through_seal("signed", cert.spki, before_seal, parsed.der)
    signed = through.state.copy()
    signed.update(after_seal)
    digest = signed.digest()
    signature = signer.sign_digest(digest)
    try:
        # The self-check: a faulty signer's value never leaves. The first signature on each
        # cached state is checked over the whole TBS hashed afresh, so the state and the
        # assembly are proven too; later ones share both and are checked over the digest.
        if through.proven:
            hsm.verify_digest(cert.spki, digest, signature)
        else:
            hsm.verify(cert.spki, tbs_der, signature)
            through.proven = True
    except hsm.InvalidSignature as exc:
        raise SealingError(
            f"the signer {signer.key_ref} produced a signature that does not verify", code="signer_fault"
        ) from exc
    # SES_Signature ::= SEQUENCE { toSign, cert, signatureAlgID, signature, timeStamp [0] OPTIONAL }
    rest = (
        core.OctetString(cert.der).dump()
        + core.ObjectIdentifier(signer.signature_algorithm_oid).dump()
        + core.OctetBitString(signature).dump()
    )
    if timestamper is not None:
        rest += core.OctetBitString(bytes(timestamper(signature)), explicit=0).dump()
    der, header = _sequence(tbs_der + rest)
    seal_offset = header + len(before_seal)
    through = _hashed_through_seal("sha256", b"", der[:seal_offset], parsed.der)
    whole = through.state.copy()
    whole.update(memoryview(der)[seal_offset + len(parsed.der) :])
    if not through.proven:
        if whole.digest() != hashlib.sha256(der).digest():  # cannot happen; proven once per state
            raise SealingError("the signature's SHA-256 came out wrong", code="signer_fault")
        through.proven = True
    return SignedDocument(der, seal_offset, whole.digest())
