"""COSE_Sign1 pieces shared by MSOs and the holder codes: signing with a key by reference,
strict parsing, and checking a signature under candidate certificates.

The rules are those of the service code (``TS1:``): tag 18, protected ``{1: alg, 4: kid}``,
empty unprotected header, no ``crit``, SM2-with-SM3 (-65537, default ID) or ES256 (-7), raw
``r‖s``, the kid the first 8 bytes of SM3 over the signer certificate's DER. The
Sig_structure, kid, exact CBOR decoding and bounded inflating are the code format's own
(:mod:`trustsvc.codes.format`), not copies. Parsing anything raises :class:`~trustsvc.codes.format.CodeFormatError` or returns; it never raises anything else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import cbor2

from ca.certs import parse_certificate
from ca.errors import CAError
from hsm import DEFAULT_SM2_ID, KeyAlgorithm, Signer, load_public_key, verify
from hsm.encoding import signature_from_raw, signature_to_raw
from hsm.errors import InvalidSignature, TrustSvcError

from ..codes.format import (
    ALG_ES256,
    ALG_SM2_SM3,
    CODE_ALGORITHMS,
    COSE_SIGN1_TAG,
    HDR_ALG,
    HDR_CRIT,
    HDR_KID,
    KID_LENGTH,
    CodeFormatError,
    cbor_item,
    kid_for,
    sig_structure,
)

__all__ = [
    "ALG_NAMES",
    "Sign1",
    "sign1",
    "parse_sign1",
    "signing_certificate",
]

ALG_NAMES = {KeyAlgorithm.SM2: "SM2-with-SM3", KeyAlgorithm.ECDSA_P256: "ES256 (ECDSA P-256, SHA-256)"}


@dataclass(frozen=True)
class Sign1:
    """A parsed COSE_Sign1: the protected bucket and payload exactly as carried."""

    protected: bytes
    alg: Any
    kid: bytes
    payload: bytes
    signature: bytes

    @property
    def to_be_signed(self) -> bytes:
        return sig_structure(self.protected, self.payload)

    @property
    def key_algorithm(self) -> KeyAlgorithm | None:
        """The key type the alg names, or None for any alg we do not accept."""
        return CODE_ALGORITHMS.get(self.alg) if type(self.alg) is int else None

    def item(self) -> cbor2.CBORTag:
        """The tagged COSE_Sign1 as a CBOR item, to embed in another structure."""
        return cbor2.CBORTag(COSE_SIGN1_TAG, [self.protected, {}, self.payload, self.signature])


def sign1(payload: bytes, *, signer: Signer, cert_der: bytes) -> Sign1:
    """Sign ``payload``; the key is used through its :class:`Signer` (never loaded here)."""
    alg = ALG_SM2_SM3 if signer.algorithm is KeyAlgorithm.SM2 else ALG_ES256
    protected = cbor2.dumps({HDR_ALG: alg, HDR_KID: kid_for(cert_der)}, canonical=True)
    raw = signature_to_raw(signer.sign(sig_structure(protected, payload), sm2_id=DEFAULT_SM2_ID))
    return Sign1(protected=protected, alg=alg, kid=kid_for(cert_der), payload=payload, signature=raw)


def parse_sign1(item: Any, what: str) -> Sign1:
    """A tagged COSE_Sign1 CBOR item (already decoded) → :class:`Sign1`."""
    if not isinstance(item, cbor2.CBORTag) or item.tag != COSE_SIGN1_TAG:
        raise CodeFormatError(f"{what} is not a tagged COSE_Sign1 (tag 18)")
    parts = item.value
    if not isinstance(parts, (list, tuple)) or len(parts) != 4:
        raise CodeFormatError(f"{what}: COSE_Sign1 is an array of 4 items")
    protected, unprotected, payload, signature = parts
    if not all(isinstance(x, bytes) for x in (protected, payload, signature)) or not isinstance(unprotected, Mapping):
        raise CodeFormatError(f"{what}: COSE_Sign1 items must be bstr, map, bstr, bstr")
    if unprotected:
        raise CodeFormatError(f"{what}: the unprotected header must be empty: alg and kid are protected")
    header = cbor_item(protected, f"{what}'s protected header")
    if not isinstance(header, dict):
        raise CodeFormatError(f"{what}'s protected header is not a map")
    if HDR_CRIT in header:
        raise CodeFormatError(f"{what}: critical header parameters are not supported")
    kid = header.get(HDR_KID)
    if not isinstance(kid, bytes) or len(kid) != KID_LENGTH:
        raise CodeFormatError(f"{what}'s protected header needs a kid of {KID_LENGTH} bytes")
    return Sign1(protected=protected, alg=header.get(HDR_ALG), kid=kid, payload=payload, signature=signature)


def signing_certificate(message: Sign1, candidates: Iterable[bytes]) -> bytes | None:
    """The first of ``candidates`` (certificate DERs) whose key, of the type the alg names,
    verifies the signature; None when none does (or the alg or signature is malformed). Only
    keys of that type are tried, so a message cannot be relabelled to another algorithm."""
    key_algorithm = message.key_algorithm
    if key_algorithm is None or len(message.signature) != 64:
        return None
    try:
        der_signature = signature_from_raw(message.signature)
    except (InvalidSignature, TrustSvcError, ValueError):
        return None
    tbs = message.to_be_signed
    for der in candidates:
        try:
            spki = parse_certificate(der).spki
            if load_public_key(spki).algorithm is not key_algorithm:
                continue
            verify(spki, tbs, der_signature, sm2_id=DEFAULT_SM2_ID)
        except (InvalidSignature, TrustSvcError, CAError):
            continue
        return der
    return None
