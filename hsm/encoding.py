"""DER at the crypto boundary: public-key forms, SM2/ECDSA signature encodings, keys from scalars.

Why a module of its own: every provider and every caller must agree on what a valid public key
and a valid signature *encoding* is, independently of the library doing the arithmetic. All
encoding and decoding goes through asn1crypto with private schema classes, so nothing here
registers names in asn1crypto's global tables (``ca/`` owns that) and no DER is hand-rolled;
a signature's ``SEQUENCE {r, s}`` is encoded by ``cryptography`` (its Rust encoder, ~1 µs
against ~40 µs through asn1crypto: service codes carry raw ``r‖s`` and every verification
of one encodes it).
"""

from __future__ import annotations

from dataclasses import dataclass

from asn1crypto import core, keys
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from .algorithms import OID_EC_PUBLIC_KEY, OID_SECP256R1, OID_SM2, KeyAlgorithm
from .errors import InvalidSignature, UnsupportedAlgorithmError

__all__ = [
    "ParsedSPKI",
    "parse_spki",
    "sm2_spki",
    "encode_signature",
    "decode_signature",
    "signature_to_raw",
    "signature_from_raw",
    "sm2_pkcs8_from_scalar",
    "SM2_N",
]

SM2_N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
"""Order of the SM2 recommended curve's base point (GB/T 32918.5)."""


class _AlgorithmIdentifier(core.Sequence):
    _fields = [
        ("algorithm", core.ObjectIdentifier),
        ("parameters", core.Any, {"optional": True}),
    ]


class _SubjectPublicKeyInfo(core.Sequence):
    """SPKI with an open algorithm, so the SM2-OID form parses without global registration."""

    _fields = [
        ("algorithm", _AlgorithmIdentifier),
        ("public_key", core.OctetBitString),
    ]


class _PrivateKeyInfo(core.Sequence):
    _fields = [
        ("version", core.Integer),
        ("private_key_algorithm", _AlgorithmIdentifier),
        ("private_key", core.OctetString),
    ]


@dataclass(frozen=True)
class ParsedSPKI:
    """What a SubjectPublicKeyInfo says, independent of any crypto library."""

    algorithm: KeyAlgorithm
    point: bytes
    """Uncompressed point ``04 || x || y`` (65 bytes)."""
    canonical: bytes
    """The SPKI in the form every provider loads (SM2: id-ecPublicKey + sm2p256v1)."""


def _named_curve(params: core.Any) -> str | None:
    """The OID in an AlgorithmIdentifier's parameters, or None when absent/NULL."""
    if not isinstance(params, core.Any) or params.contents is None:
        return None
    parsed = params.parsed
    if isinstance(parsed, core.Null):
        return None
    if isinstance(parsed, core.ObjectIdentifier):
        return parsed.dotted
    raise UnsupportedAlgorithmError("EC public keys with explicit curve parameters are not supported")


def parse_spki(spki: bytes) -> ParsedSPKI:
    """Classify ``spki`` as SM2 (either form GM/T 0015 allows) or ECDSA P-256.

    Accepts ``id-ecPublicKey`` + ``sm2p256v1`` (the usual form) and ``algorithm = sm2p256v1``
    with absent or NULL parameters (OpenSSL 3 and some TPMs emit it; OpenSSL 3.0 cannot load
    it, so it is re-encoded into the usual form). Only uncompressed points are accepted.

    :raises UnsupportedAlgorithmError: malformed DER, trailing data, or another key type.
    """
    try:
        info = _SubjectPublicKeyInfo.load(bytes(spki), strict=True)
        alg = info["algorithm"]["algorithm"].dotted
        curve = _named_curve(info["algorithm"]["parameters"])
        point = info["public_key"].native
    except UnsupportedAlgorithmError:
        raise
    except (ValueError, TypeError, KeyError, IndexError) as exc:  # IndexError: an empty BIT STRING
        raise UnsupportedAlgorithmError("public key is not a valid SubjectPublicKeyInfo") from exc
    if (alg == OID_EC_PUBLIC_KEY and curve == OID_SM2) or (alg == OID_SM2 and curve in (None, OID_SM2)):
        algorithm = KeyAlgorithm.SM2
    elif alg == OID_EC_PUBLIC_KEY and curve == OID_SECP256R1:
        algorithm = KeyAlgorithm.ECDSA_P256
    else:
        raise UnsupportedAlgorithmError(f"public key is neither SM2 nor ECDSA P-256 (algorithm {alg}, curve {curve})")
    if not isinstance(point, bytes) or len(point) != 65 or point[0] != 0x04:
        raise UnsupportedAlgorithmError("EC public key is not an uncompressed 65-byte point")
    canonical = sm2_spki(point) if algorithm is KeyAlgorithm.SM2 else bytes(spki)
    return ParsedSPKI(algorithm=algorithm, point=point, canonical=canonical)


def sm2_spki(point: bytes) -> bytes:
    """SubjectPublicKeyInfo DER (id-ecPublicKey, namedCurve sm2p256v1) for an uncompressed point."""
    if len(point) != 65 or point[0] != 0x04:
        raise UnsupportedAlgorithmError("SM2 public key must be an uncompressed 65-byte point")
    return _SubjectPublicKeyInfo(
        {
            "algorithm": {"algorithm": OID_EC_PUBLIC_KEY, "parameters": core.ObjectIdentifier(OID_SM2)},
            "public_key": point,
        }
    ).dump()


def encode_signature(r: int, s: int) -> bytes:
    """DER ``SEQUENCE { r INTEGER, s INTEGER }`` (GM/T 0009 SM2Signature, X9.62 ECDSA-Sig-Value)."""
    if r <= 0 or s <= 0:
        raise ValueError("signature components must be positive")
    return encode_dss_signature(r, s)


def decode_signature(der: bytes) -> tuple[int, int]:
    """(r, s) from a DER signature, refusing anything that is not the one canonical encoding.

    :raises InvalidSignature: malformed, non-minimal, long-form, trailing data, or r/s <= 0.
    """
    try:
        raw = bytes(der)
        r, s = decode_dss_signature(raw)  # cryptography's DER reader, in Rust: ~2 µs, not ~40
    except (ValueError, TypeError) as exc:
        raise InvalidSignature("signature is not DER SEQUENCE {r, s}") from exc
    if r <= 0 or s <= 0:
        raise InvalidSignature("signature components must be positive integers")
    # compared against a fresh encoding, so only the one canonical DER form is taken (whatever
    # the reader forgives: long-form lengths, padded integers, trailing bytes)
    if encode_dss_signature(r, s) != raw:
        raise InvalidSignature("signature is not in canonical DER")
    return r, s


def signature_to_raw(der: bytes, size: int = 32) -> bytes:
    """Fixed-width ``r || s`` (64 bytes for SM2 and P-256), as COSE and some tokens use."""
    r, s = decode_signature(der)
    if r.bit_length() > size * 8 or s.bit_length() > size * 8:
        raise InvalidSignature("signature component is larger than the curve order")
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def signature_from_raw(raw: bytes) -> bytes:
    """DER from fixed-width ``r || s`` (even length, both halves non-zero)."""
    half, odd = divmod(len(raw), 2)
    if not half or odd:
        raise InvalidSignature("raw signature must be r || s of equal, non-zero length")
    r, s = int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
    if not r or not s:
        raise InvalidSignature("signature components must be non-zero")
    return encode_dss_signature(r, s)  # both positive: what encode_signature would check


def sm2_pkcs8_from_scalar(d: int) -> bytes:
    """Unencrypted PKCS#8 DER for the SM2 private scalar ``d`` (public key left for the
    provider to derive). For known-answer tests and key import; the result is secret."""
    if not 1 <= d < SM2_N - 1:
        raise ValueError("SM2 private key out of range [1, n-2]")
    ec_key = keys.ECPrivateKey({"version": "ecPrivkeyVer1", "private_key": d})
    ec_key.set_key_size(32)
    return _PrivateKeyInfo(
        {
            "version": 0,
            "private_key_algorithm": {
                "algorithm": OID_EC_PUBLIC_KEY,
                "parameters": core.ObjectIdentifier(OID_SM2),
            },
            "private_key": ec_key.dump(),
        }
    ).dump()
