"""A licence's SES_Signature stored without the seal it carries.

A GB/T 38540 SES_Signature embeds the whole electronic seal (certificates and picture: about
80 KB) next to a few hundred bytes of its own. Every licence of a department carries the same
seal, and the seal is stored once in ``seals`` already, so a licence row keeps the signature
with the seal's bytes cut out and says which seal and where:

    MAGIC (4) | SHA-256 of the seal's DER (32) | offset (4, big-endian) | DER without the seal

Putting the seal's bytes back at the offset gives the signed DER byte for byte (the length
headers around it were never touched). A stored value that does not start with :data:`MAGIC`
is a whole DER (a SEQUENCE starts with 0x30), as rows written before compaction are; both
forms are read. The seal is looked up by its SHA-256 (unique in ``seals``), so a wrong or
edited seal row is refused here and an edited stored part fails the signature's verification.
"""

from __future__ import annotations

import functools
import hashlib
import threading

__all__ = ["MAGIC", "compact", "expand", "seal_sha256", "is_compact", "remember_seal", "known_seal"]

MAGIC = b"SES\x01"
_HEAD = len(MAGIC) + 32 + 4

_seals: dict[bytes, bytes] = {}
_seals_lock = threading.Lock()
_MAX_SEALS = 4096
"""Seal DERs kept in memory by digest (a province has a few thousand seals at most)."""


def is_compact(stored: bytes) -> bool:
    return stored[: len(MAGIC)] == MAGIC


def remember_seal(seal_der: bytes, digest: bytes | None = None) -> bytes:
    """Keep ``seal_der`` for :func:`known_seal`; returns its SHA-256."""
    digest = digest or hashlib.sha256(seal_der).digest()
    with _seals_lock:
        if digest not in _seals:
            if len(_seals) >= _MAX_SEALS:
                _seals.clear()
            _seals[digest] = seal_der
    return digest


def known_seal(digest: bytes) -> bytes | None:
    return _seals.get(digest)


def compact(signature: bytes, seal_der: bytes, *, seal_offset: int | None = None) -> bytes:
    """``signature`` with ``seal_der`` cut out; the whole ``signature`` when it does not carry
    that seal (nothing is lost: :func:`expand` returns either form unchanged or reassembled).
    ``seal_offset``: where the seal starts, when the signer knows it (else it is searched for)."""
    if not seal_der:
        return signature
    if seal_offset is None:
        at = signature.find(seal_der)
    else:
        at = seal_offset if signature[seal_offset : seal_offset + len(seal_der)] == seal_der else -1
    if at < 0:
        return signature
    digest = remember_seal(seal_der, _seal_digest(seal_der))
    # the seal's bytes stand at ``at`` (found or compared above): expand() puts them back there
    return MAGIC + digest + at.to_bytes(4, "big") + signature[:at] + signature[at + len(seal_der) :]


@functools.lru_cache(maxsize=64)
def _seal_digest(seal_der: bytes) -> bytes:
    """SHA-256 of a seal a department signs with again and again (hashed once, not per licence)."""
    return hashlib.sha256(seal_der).digest()


def seal_sha256(stored: bytes) -> bytes | None:
    """The SHA-256 of the seal a compact value needs; None for a whole DER."""
    return stored[len(MAGIC) : len(MAGIC) + 32] if is_compact(stored) else None


def expand(stored: bytes, seal_der: bytes | None) -> bytes:
    """The signed DER of a stored value; ``seal_der`` is the seal :func:`seal_sha256` names.

    :raises ValueError: a compact value without its seal, or with another seal, or cut short.
    """
    if not is_compact(stored):
        return stored
    if len(stored) < _HEAD:
        raise ValueError("stored signature is cut short")
    if seal_der is None or hashlib.sha256(seal_der).digest() != stored[len(MAGIC) : len(MAGIC) + 32]:
        raise ValueError("stored signature needs a seal that is not the one given")
    at = int.from_bytes(stored[len(MAGIC) + 32 : _HEAD], "big")
    rest = stored[_HEAD:]
    if at > len(rest):
        raise ValueError("stored signature's seal offset lies beyond its end")
    return rest[:at] + seal_der + rest[at:]
