"""The ``Signer`` interface: a key that lives somewhere, referred to by its key reference.

Everything above ``hsm/`` signs through this and never sees private key material. A signer
takes the *message* (SM2 computes Z and SM3 itself) and returns a DER signature; or, through
:meth:`Signer.sign_digest`, the finished hash of :meth:`hsm.PublicKey.message_hash`, for a caller
that signs many messages sharing a long start (every licence signature carries the same 80 KB
seal) and hashes that start once.
"""

from __future__ import annotations

import abc

from .algorithms import DEFAULT_SM2_ID, KeyAlgorithm

__all__ = ["Signer"]


class Signer(abc.ABC):
    """Signs with one key held by a key store.

    Implementations: :class:`hsm.soft.SoftSigner` (sealed software keys) and the PKCS#11 signer.
    """

    @property
    @abc.abstractmethod
    def key_ref(self) -> str:
        """URI naming the key (``soft:<label>``, ``pkcs11:<label>``)."""

    @property
    @abc.abstractmethod
    def algorithm(self) -> KeyAlgorithm:
        """What the key signs with."""

    @property
    @abc.abstractmethod
    def public_key(self) -> bytes:
        """SubjectPublicKeyInfo DER."""

    @abc.abstractmethod
    def sign(self, message: bytes, *, sm2_id: bytes = DEFAULT_SM2_ID) -> bytes:
        """Sign ``message``; DER ``SEQUENCE {r, s}``. ``sm2_id`` is ignored for ECDSA keys."""

    @abc.abstractmethod
    def sign_digest(self, digest: bytes) -> bytes:
        """Sign a finished message hash (SM2: ``e = SM3(Z || M)``; ECDSA: SHA-256 of ``M``), as
        :meth:`hsm.PublicKey.message_hash` computes it; DER ``SEQUENCE {r, s}``."""

    @property
    def signature_algorithm_oid(self) -> str:
        """OID of the signature algorithm (SM2-with-SM3 or ecdsa-with-SHA256)."""
        return self.algorithm.signature_oid

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.key_ref} {self.algorithm.value}>"
