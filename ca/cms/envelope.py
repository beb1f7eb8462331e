"""GM/T 0010 signedAndEnvelopedData: read it, and open it with a key held by a :class:`hsm.KeyStore`.

The content-encryption key is SM2-decrypted inside ``hsm/`` (``KeyStore.decrypt``); this module
only ever sees the decrypted SM4 key, never a private key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from asn1crypto import cms, core, x509

from .. import oids  # noqa: F401  (registration before any asn1crypto use)
from ..names import format_name
from ..results import (
    PASSED_CHECK,
    WARNING_CHECK,
)
from .signed_data import (
    _ENVELOPE_TYPES,
    _NULL_DER,
    _SM2_KEY_ENCRYPTION,
    _SM4,
    _SM4_CBC,
    _SM4_ECB,
    CMSError,
    CMSVerification,
    _certificate_ders,
    _Checks,
    _params_der,
    _parse_signer,
    _reason,
    _SignedParse,
    _to_der,
)
from .verify import _shape, _verify_signer

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


def open_signed_and_enveloped(data: bytes, *, decrypt: Callable[[bytes], bytes]) -> tuple[bytes, CMSVerification]:
    """Decrypt a signedAndEnvelopedData and verify its signature over the plaintext.

    The content-encryption key is SM2-decrypted (GM/T 0009 DER C1C3C2) by ``decrypt``
    (encryptedKey -> key): the recipient's key stays in ``hsm/``, e.g.
    ``functools.partial(keystore.decrypt, key_ref)``; each SM2 recipientInfo is tried in turn. The content is
    SM4 (ECB or CBC); PKCS#7 padding is removed when valid, else the plaintext is kept whole
    with a warning (emmansun/gmsm does the same; gmcert.org's 64-byte key blob has none). The
    signature is checked as for :func:`verify_cms`, the plaintext being the content.

    :raises CMSError: unreadable, no recipient the key opens, unsupported cipher.
    """
    info = parse_signed_and_enveloped(data)
    cek = None
    for index, recipient in enumerate(info.recipients):  # noqa: B007 - index is reported after the loop
        if recipient.key_encryption_algorithm not in _SM2_KEY_ENCRYPTION:
            continue
        try:
            cek = bytes(decrypt(recipient.encrypted_key))
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
