"""Signatures that must not verify: wrong ID, no Z, and every malformed encoding.

The malformed encodings are built by editing a valid signature's bytes on purpose (that is
what an attacker or a sloppy producer sends); valid ones always come from asn1crypto.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from asn1crypto import algos
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

import hsm
from hsm.encoding import (
    SM2_N,
    decode_signature,
    encode_signature,
    parse_spki,
    signature_from_raw,
    signature_to_raw,
)
from hsm.provider import SM2Provider


def _tlv(tag: int, content: bytes, *, long_form: bool = False) -> bytes:
    n = len(content)
    assert n < 128
    return bytes([tag]) + (bytes([0x81, n]) if long_form else bytes([n])) + content


def _parts(der: bytes) -> tuple[bytes, bytes]:
    """Contents octets of r and s as encoded."""
    sig = algos.DSASignature.load(der)
    return sig["r"].contents, sig["s"].contents


def _malformed(der: bytes) -> dict[str, bytes]:
    r, s = _parts(der)
    r_int, s_int = decode_signature(der)
    raw = signature_to_raw(der)
    return {
        "trailing_byte": der + b"\x00",
        "non_minimal_integer": _tlv(0x30, _tlv(0x02, b"\x00" + r) + _tlv(0x02, s)),
        "raw_r_s_64_bytes": raw,
        "long_form_length_0x81": _tlv(0x30, _tlv(0x02, r) + _tlv(0x02, s), long_form=True),
        "long_form_integer_length": _tlv(0x30, _tlv(0x02, r, long_form=True) + _tlv(0x02, s)),
        "indefinite_length": b"\x30\x80" + _tlv(0x02, r) + _tlv(0x02, s) + b"\x00\x00",
        "truncated": der[:-1],
        "empty": b"",
        "set_instead_of_sequence": _tlv(0x31, _tlv(0x02, r) + _tlv(0x02, s)),
        "swapped_r_s": encode_signature(s_int, r_int),
        "r_plus_n": algos.DSASignature({"r": r_int + SM2_N, "s": s_int}).dump(),
        # r has its top bit set (see the fixtures), so without its 0x00 pad it reads negative
        "negative_r": _tlv(0x30, _tlv(0x02, r.lstrip(b"\x00")) + _tlv(0x02, s)),
        "zero_s": algos.DSASignature({"r": r_int, "s": 0}).dump(),
    }


MALFORMED_KINDS = sorted(_malformed(encode_signature(2**255 + 5, 7)))


@pytest.fixture
def sm2_signed(provider: SM2Provider) -> tuple[bytes, bytes, bytes]:
    """(spki, message, valid DER signature) whose r has its high bit set (worst case for
    minimal-encoding checks): re-sign until it does."""
    key = provider.generate()
    message = b"seal 32000000000001"
    while True:
        sig = key.sign(message, hsm.DEFAULT_SM2_ID)
        if decode_signature(sig)[0] >> 255:
            return key.spki(), message, sig


@pytest.mark.parametrize("kind", MALFORMED_KINDS)
def test_sm2_malformed_signature_rejected(kind: str, sm2_signed: tuple[bytes, bytes, bytes]) -> None:
    spki, message, sig = sm2_signed
    hsm.verify(spki, message, sig)  # control: the untouched signature verifies
    bad = _malformed(sig)[kind]
    assert bad != sig
    with pytest.raises(hsm.InvalidSignature):
        hsm.verify(spki, message, bad)
    e = hsm.sm2_e(parse_spki(spki).point, message)
    hsm.verify_digest(spki, e, sig)
    with pytest.raises(hsm.InvalidSignature):
        hsm.verify_digest(spki, e, bad)


@pytest.mark.parametrize("kind", MALFORMED_KINDS)
def test_decode_signature_is_strict(kind: str) -> None:
    der = encode_signature(2**255 + 12345, 2**200 + 7)
    bad = _malformed(der)[kind]
    if kind in ("swapped_r_s", "r_plus_n"):
        decode_signature(bad)  # well-formed DER, wrong value: the verifier's job
        return
    with pytest.raises(hsm.InvalidSignature):
        decode_signature(bad)


def test_sm2_signature_with_another_id_rejected(provider: SM2Provider) -> None:
    key = provider.generate()
    spki, message = key.spki(), b"document"
    sig = key.sign(message, b"ALICE123@YAHOO.COM")
    hsm.verify(spki, message, sig, sm2_id=b"ALICE123@YAHOO.COM")
    for other in (hsm.DEFAULT_SM2_ID, b"", b"ALICE123@YAHOO.CO"):
        with pytest.raises(hsm.InvalidSignature):
            hsm.verify(spki, message, sig, sm2_id=other)


def test_sm2_signature_with_empty_id_rejected_under_default(provider: SM2Provider) -> None:
    """OpenSSL 3's own default is the empty ID: such a signature must not pass as standard."""
    key = provider.generate()
    spki, message = key.spki(), b"document"
    sig = key.sign(message, b"")
    hsm.verify(spki, message, sig, sm2_id=b"")
    with pytest.raises(hsm.InvalidSignature):
        hsm.verify(spki, message, sig)


def test_sm2_signature_without_z_rejected(provider: SM2Provider) -> None:
    key = provider.generate()
    spki, message = key.spki(), b"document"
    sig = key.sign_digest(hsm.sm3(message))
    hsm.verify_digest(spki, hsm.sm3(message), sig)  # control
    with pytest.raises(hsm.InvalidSignature):
        hsm.verify(spki, message, sig)


def test_sm2_signature_under_another_key_rejected(provider: SM2Provider) -> None:
    a, b = provider.generate(), provider.generate()
    sig = a.sign(b"m", hsm.DEFAULT_SM2_ID)
    with pytest.raises(hsm.InvalidSignature):
        hsm.verify(b.spki(), b"m", sig)


def test_wrong_length_digest_rejected(provider: SM2Provider) -> None:
    key = provider.generate()
    e = hsm.sm2_e(parse_spki(key.spki()).point, b"m")
    sig = key.sign_digest(e)
    for bad in (e[:31], e + b"\x00"):
        with pytest.raises(hsm.InvalidSignature):
            hsm.verify_digest(key.spki(), bad, sig)
        with pytest.raises(hsm.HSMError):
            key.sign_digest(bad)


def _p256() -> tuple[bytes, Callable[[bytes], bytes]]:
    key = ec.generate_private_key(ec.SECP256R1())
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return spki, lambda m: key.sign(m, ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize("kind", MALFORMED_KINDS)
def test_p256_malformed_signature_rejected(kind: str) -> None:
    spki, sign = _p256()
    while True:
        sig = sign(b"m")
        if decode_signature(sig)[0] >> 255:
            break
    hsm.verify(spki, b"m", sig)
    with pytest.raises(hsm.InvalidSignature):
        hsm.verify(spki, b"m", _malformed(sig)[kind])


def test_raw_signature_round_trip() -> None:
    der = encode_signature(1, SM2_N - 1)
    raw = signature_to_raw(der)
    assert len(raw) == 64 and raw[:32] == (1).to_bytes(32, "big")
    assert signature_from_raw(raw) == der
    for bad in (b"", b"\x00" * 63, b"\x00" * 64, b"\x00" * 32 + b"\x01" * 32):
        with pytest.raises(hsm.InvalidSignature):
            signature_from_raw(bad)


@pytest.mark.parametrize("given", [None, "3006020101020101", 7])
def test_decode_signature_refuses_what_is_not_bytes_as_a_bad_signature(given: object) -> None:
    """A caller holding something other than bytes (a JSON field read as text, say) gets the
    signature error every caller handles, not a TypeError."""
    with pytest.raises(hsm.InvalidSignature):
        decode_signature(given)  # type: ignore[arg-type]
