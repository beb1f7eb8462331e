"""Cross-verification against gmalg, an independent pure-Python SM2 (test oracle only).

gmalg returns (r, s) as minimal-length big-endian bytes; DER conversion goes through
``hsm.encoding`` (asn1crypto) in both directions.
"""

from __future__ import annotations

import random
import secrets

import gmalg
import pytest

import hsm
from hsm.encoding import decode_signature, encode_signature, parse_spki, sm2_pkcs8_from_scalar, sm2_spki
from hsm.provider import SM2Provider
from hsm.selftest import GBT32918_EXAMPLE

# 100 each way for the default provider; the second provider gets a smaller share to keep the
# run fast (gmalg verifies at ~34/s).
ROUNDS = {"openssl": 100, "tongsuo": 30}


def _random_id(rng: random.Random, i: int) -> bytes:
    """Mostly the default ID, every fourth a random one (lengths 1..40)."""
    if i % 4:
        return hsm.DEFAULT_SM2_ID
    return bytes(rng.randrange(256) for _ in range(rng.randint(1, 40)))


def _to_der(rs: tuple[bytes, bytes]) -> bytes:
    return encode_signature(int.from_bytes(rs[0], "big"), int.from_bytes(rs[1], "big"))


def _to_gmalg(der: bytes) -> tuple[bytes, bytes]:
    r, s = decode_signature(der)
    return r.to_bytes((r.bit_length() + 7) // 8, "big"), s.to_bytes((s.bit_length() + 7) // 8, "big")


def test_our_signatures_verify_in_gmalg(provider: SM2Provider) -> None:
    rng = random.Random(1)
    rounds = ROUNDS[provider.name]
    for i in range(rounds):
        key = provider.generate()
        point = parse_spki(key.spki()).point
        message = secrets.token_bytes(rng.randint(0, 300))
        sm2_id = _random_id(rng, i)
        sig = key.sign(message, sm2_id)
        oracle = gmalg.SM2(pk=point, uid=sm2_id)
        assert oracle.verify(message, *_to_gmalg(sig)), f"round {i}: gmalg rejects our signature"
        # Control: the oracle is not accepting everything.
        if i % 10 == 0:
            assert not oracle.verify(message + b"\x01", *_to_gmalg(sig))


def test_gmalg_signatures_verify_with_us(provider: SM2Provider, scalar_of) -> None:
    rng = random.Random(2)
    rounds = ROUNDS[provider.name]
    for i in range(rounds):
        key = provider.generate()
        d = scalar_of(key.pkcs8())
        spki = key.spki()
        message = secrets.token_bytes(rng.randint(0, 300))
        sm2_id = _random_id(rng, i)
        r, s = gmalg.SM2(sk=d, uid=sm2_id, pk=parse_spki(spki).point).sign(message)
        sig = _to_der((r, s))
        hsm.verify(spki, message, sig, sm2_id=sm2_id)
        if i % 10 == 0:
            with pytest.raises(hsm.InvalidSignature):
                hsm.verify(spki, message, sig, sm2_id=sm2_id + b"!")


def test_gmalg_reproduces_gbt32918_example_with_injected_k() -> None:
    ex = GBT32918_EXAMPLE
    k = 0x59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21
    oracle = gmalg.SM2(sk=ex.d.to_bytes(32, "big"), uid=ex.sm2_id, rnd_fn=lambda bits: k)
    assert oracle.generate_pk(ex.d.to_bytes(32, "big")) == ex.point
    r, s = oracle.sign(ex.message)
    assert (int.from_bytes(r, "big"), int.from_bytes(s, "big")) == (ex.r, ex.s)
    # ...and the exact published signature verifies through our default provider.
    hsm.verify(sm2_spki(ex.point), ex.message, _to_der((r, s)))


def test_gmalg_and_we_agree_on_z() -> None:
    ex = GBT32918_EXAMPLE
    oracle = gmalg.SM2(pk=ex.point, uid=ex.sm2_id)
    assert oracle._core.entity_info(ex.sm2_id, gmalg.sm2.bytes_to_point(ex.point)) == hsm.sm2_z(ex.point)


def test_gmalg_signature_without_z_is_rejected(provider: SM2Provider, scalar_of) -> None:
    """A signature over e = SM3(M) (Z left out, as some libraries and HSM paths do) is a valid
    signature of that digest but must not pass as an SM2 signature of M."""
    key = provider.generate()
    spki = key.spki()
    d = scalar_of(key.pkcs8())
    message = b"licence 1.2.156.3005.2.11100000000013338W.320000.0001.1.K"
    oracle = gmalg.SM2(sk=d, uid=hsm.DEFAULT_SM2_ID, pk=parse_spki(spki).point)
    oracle._core.entity_info = lambda uid, pk: b""  # gmalg then signs SM3(M)
    sig = _to_der(oracle.sign(message))
    hsm.verify_digest(spki, hsm.sm3(message), sig)  # control: the signature itself is sound
    with pytest.raises(hsm.InvalidSignature):
        hsm.verify(spki, message, sig)


def test_our_gbt32918_key_signatures_verify_in_gmalg(provider: SM2Provider) -> None:
    ex = GBT32918_EXAMPLE
    key = provider.load_private(sm2_pkcs8_from_scalar(ex.d))
    sig = key.sign(ex.message, ex.sm2_id)
    assert gmalg.SM2(pk=ex.point, uid=ex.sm2_id).verify(ex.message, *_to_gmalg(sig))
