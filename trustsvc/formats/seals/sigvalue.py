"""Signature values as vendors store them, brought to the one DER form SM2 verification takes.

GM/T 0009 says ``SEQUENCE { r INTEGER, s INTEGER }`` in DER. Seen instead (docs/architecture.md,
MANIFEST "Not included"): a raw 64-byte ``r || s``; INTEGERs without their 0x00 sign octet;
and a BIT STRING whose trailing zero octet was stripped (unused bits set, valid only after
re-padding). Each tolerated form yields a warning. A BIT STRING that declares unused bits but
already holds a complete signature is *not* tolerated: its value is then not the signature
bytes, and accepting it would let anyone flip the unused-bits octet of an unsigned field.
"""

from __future__ import annotations

from dataclasses import dataclass

from asn1crypto import algos

__all__ = ["SignatureValue", "normalise_signature"]

_MAX_PAD = 2


@dataclass(frozen=True)
class SignatureValue:
    der: bytes | None
    """Canonical DER ``SEQUENCE {r, s}``, or ``None`` when the value is not a signature."""
    raw: bytes
    """The octets as stored (BIT STRING contents after the unused-bits octet)."""
    warnings: tuple[str, ...] = ()
    problem: str | None = None
    """Why ``der`` is ``None``."""


def _canonical(octets: bytes) -> tuple[bytes, bool] | None:
    """(canonical DER, changed) when ``octets`` is one DER SEQUENCE of two INTEGERs.

    The INTEGER contents are read as unsigned big-endian numbers, which repairs a missing
    sign octet (a negative reading would never verify anyway).
    """
    try:
        sig = algos.DSASignature.load(octets, strict=True)
        r_raw, s_raw = sig["r"].contents, sig["s"].contents
        extra = len(sig)
    except (ValueError, TypeError, KeyError):
        return None
    if extra != 2 or not r_raw or not s_raw:
        return None
    r, s = int.from_bytes(r_raw, "big"), int.from_bytes(s_raw, "big")
    if r == 0 or s == 0:
        return None
    der = algos.DSASignature({"r": r, "s": s}).dump()
    return der, der != octets


def normalise_signature(octets: bytes, unused_bits: int = 0) -> SignatureValue:
    """Bring a stored signature value to canonical DER, saying what had to be repaired."""
    octets = bytes(octets)
    found = _canonical(octets)
    if unused_bits:
        if found is not None:
            return SignatureValue(
                None, octets, problem=f"BIT STRING declares {unused_bits} unused bits but holds a complete signature"
            )
        for pad in range(1, _MAX_PAD + 1):
            padded = _canonical(octets + b"\x00" * pad)
            if padded is not None:
                note = (
                    f"signature BIT STRING had {pad} trailing zero octet(s) stripped (unused bits {unused_bits}); "
                    "re-padded"
                )
                return SignatureValue(padded[0], octets, (note,))
        return SignatureValue(None, octets, problem=f"BIT STRING with {unused_bits} unused bits is not a signature")
    if found is not None:
        der, changed = found
        notes = (
            ("signature INTEGERs are not in canonical DER (e.g. missing sign octet); re-encoded",) if changed else ()
        )
        return SignatureValue(der, octets, notes)
    if len(octets) == 64:
        r, s = int.from_bytes(octets[:32], "big"), int.from_bytes(octets[32:], "big")
        if r and s:
            der = algos.DSASignature.from_p1363(octets).dump()
            return SignatureValue(der, octets, ("signature stored as raw 64-byte r||s instead of DER; converted",))
    return SignatureValue(
        None, octets, problem=f"{len(octets)}-byte value is neither DER SEQUENCE {{r, s}} nor raw r||s"
    )
