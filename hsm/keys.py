"""Public keys and verification: ``verify(spki, message, signature)`` for SM2 and ECDSA P-256.

The algorithm comes from the SubjectPublicKeyInfo itself, never from the caller, so a signature
cannot be checked under an algorithm its key was not made for. Parsed keys are cached per SPKI
because verifiers see the same few issuer keys over and over.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.serialization import load_der_public_key

from .algorithms import DEFAULT_SM2_ID, KeyAlgorithm, sm2_e, sm2_z
from .encoding import parse_spki
from .errors import HSMError, InvalidSignature, ProviderUnavailableError, UnsupportedAlgorithmError
from .provider import SM2KeyHandle, default_provider_name, get_provider

__all__ = ["PublicKey", "load_public_key", "verify", "verify_digest", "sm2_z", "sm2_e"]


@dataclass(frozen=True, eq=False)
class PublicKey:
    """A parsed public key that knows its algorithm."""

    spki: bytes
    """SubjectPublicKeyInfo DER as given."""
    algorithm: KeyAlgorithm
    _sm2: SM2KeyHandle | None = None
    _ec: ec.EllipticCurvePublicKey | None = None
    _point: bytes = b""

    @property
    def point(self) -> bytes:
        """Uncompressed point ``04 || x || y`` (65 bytes)."""
        return self._point

    def verify(self, message: bytes, signature: bytes, *, sm2_id: bytes = DEFAULT_SM2_ID) -> None:
        """Raise :class:`InvalidSignature` unless ``signature`` (DER) signs ``message``."""
        if self._sm2 is not None:
            self._sm2.verify(message, signature, sm2_id)
            return
        assert self._ec is not None
        try:
            self._ec.verify(bytes(signature), bytes(message), ec.ECDSA(hashes.SHA256()))
        except ValueError as exc:  # malformed DER
            raise InvalidSignature("ECDSA signature is malformed") from exc

    def message_hash(self, *, sm2_id: bytes = DEFAULT_SM2_ID) -> Any:
        """The running hash a signature of this key is over, fed with what goes before the
        message: SM3 over ``Z`` (GB/T 32918.2) for SM2, an empty SHA-256 for ECDSA. Update it
        with the message, then pass its digest to :meth:`verify_digest` or
        :meth:`hsm.Signer.sign_digest`; ``.copy()`` it to hash a shared start only once."""
        if self.algorithm is KeyAlgorithm.SM2:
            return hashlib.new("sm3", sm2_z(self._point, bytes(sm2_id)))
        return hashlib.sha256()

    def verify_digest(self, digest: bytes, signature: bytes) -> None:
        """Verify over a precomputed digest (SM2: ``e = SM3(Z || M)``; ECDSA: SHA-256)."""
        if self._sm2 is not None:
            self._sm2.verify_digest(digest, signature)
            return
        assert self._ec is not None
        if len(digest) != 32:
            raise InvalidSignature("SHA-256 digest must be 32 bytes")
        try:
            self._ec.verify(bytes(signature), bytes(digest), ec.ECDSA(Prehashed(hashes.SHA256())))
        except ValueError as exc:
            raise InvalidSignature("ECDSA signature is malformed") from exc


@functools.lru_cache(maxsize=4096)
def _load_public_key(spki: bytes, provider_name: str) -> PublicKey:
    parsed = parse_spki(spki)
    if parsed.algorithm is KeyAlgorithm.SM2:
        try:
            handle = get_provider(provider_name).load_public(parsed.canonical)
        except ProviderUnavailableError:
            raise
        except HSMError as exc:
            raise UnsupportedAlgorithmError(f"SM2 public key is invalid: {exc.message}") from exc
        return PublicKey(spki=spki, algorithm=KeyAlgorithm.SM2, _sm2=handle, _point=parsed.point)
    try:
        key = load_der_public_key(spki)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise UnsupportedAlgorithmError("ECDSA P-256 public key is invalid") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise UnsupportedAlgorithmError("public key is neither SM2 nor ECDSA P-256")
    return PublicKey(spki=spki, algorithm=KeyAlgorithm.ECDSA_P256, _ec=key, _point=parsed.point)


def load_public_key(spki: bytes) -> PublicKey:
    """Parse ``spki`` (SM2 in either SPKI form, or P-256); cached per exact bytes and provider.

    The algorithm is decided from the SPKI's own AlgorithmIdentifier (asn1crypto, strict DER),
    never by trying libraries in turn.

    :raises UnsupportedAlgorithmError: for any other key type or malformed input.
    """
    return _load_public_key(bytes(spki), default_provider_name())


load_public_key.cache_clear = _load_public_key.cache_clear  # type: ignore[attr-defined]


def verify(spki: bytes, message: bytes, signature: bytes, *, sm2_id: bytes = DEFAULT_SM2_ID) -> None:
    """Verify ``signature`` over ``message`` under the key in ``spki``.

    SM2 uses SM3 with Z from ``sm2_id``; P-256 uses SHA-256. Signatures must be strict DER.

    :raises InvalidSignature: the signature is wrong or malformed.
    :raises UnsupportedAlgorithmError: the key is of an algorithm trustsvc does not verify.
    """
    load_public_key(spki).verify(message, signature, sm2_id=sm2_id)


def verify_digest(spki: bytes, digest: bytes, signature: bytes) -> None:
    """Verify over a precomputed digest; see :meth:`PublicKey.verify_digest`."""
    load_public_key(spki).verify_digest(digest, signature)
