"""Known-answer vectors: SM3, the GB/T 32918 example, and every applicable SM2 entry of
``interop/vectors/sm_vectors.json`` (independently produced by other implementations)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

import hsm
from hsm.encoding import encode_signature, parse_spki, sm2_pkcs8_from_scalar, sm2_spki
from hsm.provider import SM2Provider
from hsm.selftest import GBT32918_EXAMPLE

RECOMMENDED_CURVE = "SM2 recommended (sm2p256v1)"


def _id(entry: dict[str, Any]) -> bytes:
    return entry["user_id"].encode("ascii")


def _msg(entry: dict[str, Any]) -> bytes:
    return bytes.fromhex(entry["msg_hex"]) if "msg_hex" in entry else entry["msg_ascii"].encode("ascii")


def _sign_entries(vectors: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in vectors["sm2_sign"] if e["curve"] == RECOMMENDED_CURVE]


# -- SM3 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "digest"),
    [
        (b"abc", "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"),
        (b"abcd" * 16, "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"),
    ],
)
def test_sm3_gbt32905_examples(message: bytes, digest: str) -> None:
    assert hsm.sm3(message).hex() == digest


def test_sm3_every_interop_vector(sm_vectors: dict[str, Any]) -> None:
    entries = sm_vectors["sm3"]
    assert len(entries) >= 2
    for entry in entries:
        assert hsm.sm3(bytes.fromhex(entry["msg_hex"])).hex() == entry["digest_hex"].lower(), entry["source"]


# -- GB/T 32918.5 Annex A -------------------------------------------------------------------------


def test_gbt32918_constants_match_standards_reference() -> None:
    """The self-test's built-in example is the one in reference/standards.md §3.3."""
    ex = GBT32918_EXAMPLE
    assert ex.d == int("3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8", 16)
    assert ex.point.hex().upper() == (
        "04"
        "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
        "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"
    )
    assert ex.za.hex().upper() == "B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3"
    assert ex.e.hex().upper() == "F0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640"
    assert ex.r == int("F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3", 16)
    assert ex.s == int("B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA", 16)


def test_gbt32918_z_and_e() -> None:
    ex = GBT32918_EXAMPLE
    assert hsm.sm2_z(ex.point) == ex.za
    assert hsm.sm2_e(ex.point, ex.message) == ex.e
    assert hsm.sm2_z(ex.point, b"1234567812345679") != ex.za


def test_gbt32918_signature_verifies_and_is_bound(provider: SM2Provider) -> None:
    ex = GBT32918_EXAMPLE
    spki = sm2_spki(ex.point)
    sig = encode_signature(ex.r, ex.s)
    hsm.verify(spki, ex.message, sig)
    hsm.verify_digest(spki, ex.e, sig)
    with pytest.raises(hsm.InvalidSignature):
        hsm.verify(spki, ex.message, sig, sm2_id=b"ALICE123@YAHOO.COM")
    with pytest.raises(hsm.InvalidSignature):
        hsm.verify(spki, b"message digesT", sig)
    with pytest.raises(hsm.InvalidSignature):
        hsm.verify(spki, ex.message, encode_signature(ex.r, ex.s + 1))


def test_gbt32918_private_key_derives_published_point(provider: SM2Provider) -> None:
    key = provider.load_private(sm2_pkcs8_from_scalar(GBT32918_EXAMPLE.d))
    assert parse_spki(key.spki()).point == GBT32918_EXAMPLE.point
    sig = key.sign(b"fresh message", hsm.DEFAULT_SM2_ID)
    hsm.verify(sm2_spki(GBT32918_EXAMPLE.point), b"fresh message", sig)


# -- sm_vectors.json: SM2 --------------------------------------------------------------------------


def test_every_sm2_vector_is_applicable_or_on_the_test_curve(sm_vectors: dict[str, Any]) -> None:
    """Guard against silently ignoring entries: the only sm2_sign entries not used below are
    on GB/T 32918.2's non-recommended example curve, which no provider here implements."""
    for entry in sm_vectors["sm2_sign"]:
        if entry["curve"] != RECOMMENDED_CURVE:
            assert "NOT sm2p256v1" in entry["curve"], entry["curve"]
    assert len(_sign_entries(sm_vectors)) >= 1
    assert {e["expected"] for e in sm_vectors["sm2_verify_e"]} == {"valid", "invalid"}
    assert len(sm_vectors["sm2_z"]) >= 1


def test_sm2_sign_vectors(sm_vectors: dict[str, Any], provider: SM2Provider) -> None:
    for entry in _sign_entries(sm_vectors):
        point = bytes.fromhex(entry["public_key_hex"])
        sm2_id, message = _id(entry), _msg(entry)
        assert hsm.sm2_z(point, sm2_id).hex() == entry["z_hex"]
        assert hsm.sm2_e(point, message, sm2_id).hex() == entry["e_hex"]
        spki = sm2_spki(point)
        sig = encode_signature(int(entry["r_hex"], 16), int(entry["s_hex"], 16))
        hsm.verify(spki, message, sig, sm2_id=sm2_id)
        hsm.verify_digest(spki, bytes.fromhex(entry["e_hex"]), sig)
        with pytest.raises(hsm.InvalidSignature):
            hsm.verify(spki, message, sig, sm2_id=sm2_id + b"X")
        key = provider.load_private(sm2_pkcs8_from_scalar(int(entry["private_key_hex"], 16)))
        assert parse_spki(key.spki()).point == point


def test_sm2_z_vectors(sm_vectors: dict[str, Any]) -> None:
    for entry in sm_vectors["sm2_z"]:
        assert hsm.sm2_z(bytes.fromhex(entry["public_key_hex"]), _id(entry)).hex() == entry["z_hex"]


def test_sm2_verify_e_vectors(sm_vectors: dict[str, Any], provider: SM2Provider) -> None:
    checked = {"valid": 0, "invalid": 0}
    for entry in sm_vectors["sm2_verify_e"]:
        point = bytes.fromhex(entry["public_key_hex"])
        spki = sm2_spki(point)
        if "public_key_spki_b64" in entry:
            given = base64.b64decode(entry["public_key_spki_b64"])
            assert given == spki
        e = bytes.fromhex(entry["e_hex"])
        sig = bytes.fromhex(entry["signature_der_hex"])
        if entry["expected"] == "valid":
            hsm.verify_digest(spki, e, sig)
        else:
            with pytest.raises(hsm.InvalidSignature):
                hsm.verify_digest(spki, e, sig)
        if "private_key_hex" in entry:
            key = provider.load_private(sm2_pkcs8_from_scalar(int(entry["private_key_hex"], 16)))
            assert parse_spki(key.spki()).point == point
        checked[entry["expected"]] += 1
    assert checked["valid"] >= 1 and checked["invalid"] >= 1


def test_cloud_kms_signatures_without_z_fail_standard_verification(
    sm_vectors: dict[str, Any], provider: SM2Provider
) -> None:
    """The KMS entries sign e = SM3("abc") with no Z: valid over e, but not SM2 signatures of
    "abc" in the GB/T 32918 sense, so ``hsm.verify`` must reject them."""
    kms = [e for e in sm_vectors["sm2_verify_e"] if "Cloud KMS" in e["note"]]
    assert kms
    for entry in kms:
        assert entry["e_hex"] == hsm.sm3(b"abc").hex()
        spki = base64.b64decode(entry["public_key_spki_b64"])
        sig = bytes.fromhex(entry["signature_der_hex"])
        hsm.verify_digest(spki, hsm.sm3(b"abc"), sig)
        with pytest.raises(hsm.InvalidSignature):
            hsm.verify(spki, b"abc", sig)
