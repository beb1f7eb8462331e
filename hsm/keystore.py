"""Key custody: where keys live, addressed by key-reference URIs (``soft:label``, ``pkcs11:label``).

Callers create keys and get :class:`~hsm.signer.Signer` objects by reference; private material
never crosses this interface.
"""

from __future__ import annotations

import abc
import re

from .algorithms import KeyAlgorithm
from .errors import HSMError, UnsupportedAlgorithmError
from .signer import Signer

__all__ = ["KeyStore", "parse_key_ref", "LABEL_RE"]

LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
"""Key labels: safe as file names and PKCS#11 CKA_LABELs."""


def parse_key_ref(key_ref: str) -> tuple[str, str]:
    """Split ``scheme:label`` and check the label."""
    scheme, sep, label = key_ref.partition(":")
    if not sep or not scheme or not LABEL_RE.match(label):
        raise HSMError(f"malformed key reference {key_ref!r}", code="bad_key_ref")
    return scheme, label


class KeyStore(abc.ABC):
    """A backend holding private keys. Thread-safe; one instance per process."""

    scheme: str = ""

    def key_ref(self, label: str) -> str:
        if not LABEL_RE.match(label):
            raise HSMError(f"bad key label {label!r}", code="bad_key_label")
        return f"{self.scheme}:{label}"

    def label_of(self, key_ref: str) -> str:
        scheme, label = parse_key_ref(key_ref)
        if scheme != self.scheme:
            raise HSMError(f"key {key_ref!r} is not held by the {self.scheme} key store", code="bad_key_ref")
        return label

    @abc.abstractmethod
    def create_key(self, label: str, algorithm: KeyAlgorithm = KeyAlgorithm.SM2) -> str:
        """Generate a key inside the store; return its reference.

        :raises KeyExistsError: a key with that label exists already.
        """

    @abc.abstractmethod
    def signer(self, key_ref: str) -> Signer:
        """The signer for ``key_ref``. :raises KeyNotFoundError:"""

    @abc.abstractmethod
    def has_key(self, key_ref: str) -> bool: ...

    @abc.abstractmethod
    def list_keys(self) -> list[str]:
        """References of every key in the store."""

    def decrypt(self, key_ref: str, ciphertext: bytes) -> bytes:
        """SM2-decrypt a GM/T 0009 DER ciphertext (C1C3C2) with ``key_ref``: how an envelope
        addressed to a key held here is opened without the key leaving the store.

        :raises UnsupportedAlgorithmError: this store (or this key) cannot decrypt.
        :raises HSMError: wrong key or corrupt ciphertext (one error, whatever the cause).
        """
        raise UnsupportedAlgorithmError(f"the {self.scheme} key store cannot SM2-decrypt", code="decrypt_unsupported")

    def public_key(self, key_ref: str) -> bytes:
        """SubjectPublicKeyInfo DER of ``key_ref``."""
        return self.signer(key_ref).public_key

    def close(self) -> None:
        """Release sessions and forget unsealed keys."""
