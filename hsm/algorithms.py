"""Signature algorithms trustsvc keys can have, and the SM2 constants every layer shares."""

from __future__ import annotations

import enum
import hashlib

from .errors import HSMError

__all__ = [
    "DEFAULT_SM2_ID",
    "KeyAlgorithm",
    "OID_SM2",
    "OID_SM3",
    "OID_SM2_WITH_SM3",
    "OID_EC_PUBLIC_KEY",
    "OID_SECP256R1",
    "OID_ECDSA_WITH_SHA256",
    "sm3",
    "sm2_z",
    "sm2_e",
]

DEFAULT_SM2_ID = b"1234567812345678"
"""GM/T 0009 default user ID. OpenSSL 3 defaults to the *empty* ID, which interoperates with
nobody, so every SM2 operation in trustsvc passes an ID explicitly."""

OID_SM2 = "1.2.156.10197.1.301"
OID_SM3 = "1.2.156.10197.1.401"
OID_SM2_WITH_SM3 = "1.2.156.10197.1.501"
OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
OID_SECP256R1 = "1.2.840.10045.3.1.7"
OID_ECDSA_WITH_SHA256 = "1.2.840.10045.4.3.2"

# GB/T 32918.5 recommended-curve parameters a, b, Gx, Gy (the part of Z that never changes).
_SM2_CURVE_BYTES = bytes.fromhex(
    "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC"
    "28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93"
    "32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7"
    "BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0"
)


class KeyAlgorithm(str, enum.Enum):
    """What a key signs with. The value is what key references and configs name."""

    SM2 = "sm2"
    """SM2 with SM3 and a distinguishing ID (GB/T 32918.2)."""
    ECDSA_P256 = "ecdsa-p256"
    """ECDSA on P-256 with SHA-256, for PKCS#11 tokens without SM2 and international peers."""

    @property
    def signature_oid(self) -> str:
        return OID_SM2_WITH_SM3 if self is KeyAlgorithm.SM2 else OID_ECDSA_WITH_SHA256

    @property
    def hash_name(self) -> str:
        return "sm3" if self is KeyAlgorithm.SM2 else "sha256"


_SM3 = hashlib.new("sm3")
"""An SM3 object that is never updated: copying it skips looking the algorithm up by name,
which ``hashlib.new`` does on every call (a fifth of a short message's digest)."""


def sm3(data: bytes) -> bytes:
    """SM3 digest of ``data`` (hashlib, backed by the system OpenSSL)."""
    h = _SM3.copy()
    h.update(data)
    return h.digest()


def sm2_z(point: bytes, sm2_id: bytes = DEFAULT_SM2_ID) -> bytes:
    """Z = SM3(ENTL || ID || a || b || xG || yG || xA || yA) for an uncompressed ``point``."""
    if len(point) != 65 or point[0] != 0x04:
        raise HSMError("SM2 public key must be an uncompressed 65-byte point")
    if len(sm2_id) >= 8192:
        raise HSMError("SM2 ID is too long")
    entl = (len(sm2_id) * 8).to_bytes(2, "big")
    return sm3(entl + sm2_id + _SM2_CURVE_BYTES + point[1:])


def sm2_e(point: bytes, message: bytes, sm2_id: bytes = DEFAULT_SM2_ID) -> bytes:
    """e = SM3(Z || M), the value an SM2 signature actually signs."""
    return sm3(sm2_z(point, sm2_id) + message)
