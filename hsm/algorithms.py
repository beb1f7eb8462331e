"""Signature algorithms trustsvc keys can have, and the SM2 constants every layer shares."""

from __future__ import annotations

import enum
import hashlib

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


def sm3(data: bytes) -> bytes:
    """SM3 digest of ``data`` (hashlib, backed by the system OpenSSL)."""
    return hashlib.new("sm3", data).digest()
