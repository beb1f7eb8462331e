"""Signature time-stamps on CMS SignedData (RFC 3161 Appendix A, RFC 5652 §11 unsigned attributes).

Why a separate step: the time-stamp covers the *signature value*, so it can only be asked for
after :func:`ca.cms.sign_cms` has signed; it goes into the SignerInfo's ``unsignedAttrs`` as
``id-aa-signatureTimeStampToken`` (``1.2.840.113549.1.9.16.2.14``), which the signature does not
cover, so adding it leaves every signed byte as it was. PDF signatures (``adbe.pkcs7.detached``)
and CAdES-T carry their time-stamp this way.

Every asn1crypto access is inside this module's try blocks: bytes that are not a one-signer
SignedData raise :class:`~ca.cms.CMSError`, nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

from asn1crypto import cms

from . import oids  # noqa: F401  (registration before any asn1crypto use)
from .cms import CMSError

__all__ = ["SIGNATURE_TIME_STAMP_TOKEN", "SignerTimestampParts", "signer_timestamp_parts", "add_signature_timestamp"]

SIGNATURE_TIME_STAMP_TOKEN = "1.2.840.113549.1.9.16.2.14"
"""id-aa-signatureTimeStampToken."""


@dataclass(frozen=True)
class SignerTimestampParts:
    """What a verifier needs to check a signature time-stamp."""

    signature: bytes
    """The SignerInfo's signature octets: what the token's messageImprint must hash."""
    tokens: tuple[bytes, ...]
    """Every signatureTimeStampToken value (ContentInfo DER), in order; usually zero or one."""


def _load(data: bytes) -> cms.ContentInfo:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CMSError("expected CMS bytes")
    try:
        info = cms.ContentInfo.load(bytes(data), strict=True)
        signed = info["content"]
        if not isinstance(signed, cms.SignedData):
            raise CMSError("not a SignedData", code="not_signed_data")
        count = len(signed["signer_infos"])
    except CMSError:
        raise
    except Exception as exc:
        raise CMSError(f"not a well-formed CMS SignedData: {type(exc).__name__}: {exc}"[:240]) from exc
    if count != 1:
        raise CMSError(f"SignedData has {count} signerInfos; expected exactly one", code="unsupported_signer_count")
    return info


def signer_timestamp_parts(data: bytes) -> SignerTimestampParts:
    """The signature value and the signature time-stamp tokens of a one-signer SignedData.

    :raises CMSError: not a readable SignedData with exactly one SignerInfo.
    """
    info = _load(data)
    try:
        signer = info["content"]["signer_infos"][0]
        signature = bytes(signer["signature"].native)
        tokens: list[bytes] = []
        unsigned = signer["unsigned_attrs"]
        if unsigned.native is not None:
            for attr in unsigned:
                if attr["type"].dotted == SIGNATURE_TIME_STAMP_TOKEN:
                    tokens.extend(value.dump() for value in attr["values"])
    except Exception as exc:
        raise CMSError(f"unreadable SignerInfo: {type(exc).__name__}: {exc}"[:240]) from exc
    return SignerTimestampParts(signature=signature, tokens=tuple(tokens))


def add_signature_timestamp(data: bytes, token: bytes) -> bytes:
    """``data`` (a one-signer SignedData, DER) with ``token`` added as its signer's
    signatureTimeStampToken. The signed part is unchanged.

    :raises CMSError: ``data`` is not such a SignedData, ``token`` is not a ContentInfo, or the
        signer already carries a signature time-stamp.
    """
    info = _load(data)
    try:
        token_info = cms.ContentInfo.load(bytes(token), strict=True)
        if token_info["content_type"].dotted != "1.2.840.113549.1.7.2" or not isinstance(
            token_info["content"], cms.SignedData
        ):
            raise ValueError("the token is not a SignedData")
        signed = info["content"]
        signer = signed["signer_infos"][0]
        unsigned = signer["unsigned_attrs"]
        existing = [] if unsigned.native is None else list(unsigned)
    except Exception as exc:
        raise CMSError(f"cannot read the token or the SignerInfo: {type(exc).__name__}: {exc}"[:240]) from exc
    if any(attr["type"].dotted == SIGNATURE_TIME_STAMP_TOKEN for attr in existing):
        raise CMSError("the signer already carries a signature time-stamp", code="already_timestamped")
    try:
        attr = cms.CMSAttribute({"type": SIGNATURE_TIME_STAMP_TOKEN, "values": [token_info]})
        signer["unsigned_attrs"] = cms.CMSAttributes([*existing, attr])
        # Not force=True: asn1crypto re-encodes only the mutated path (signer -> signer_infos ->
        # SignedData -> ContentInfo) and reuses the received bytes of everything else (the
        # certificates, the token), which re-encoding field by field cost 18 ms per signature.
        return info.dump()
    except Exception as exc:
        raise CMSError(f"cannot encode the time-stamped SignedData: {type(exc).__name__}: {exc}"[:240]) from exc
