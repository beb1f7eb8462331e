"""SM2 decryption through the OpenSSL binding (``OpenSSLSM2Key.decrypt``, GM/T 0009 DER C1C3C2).

Known answers come from ``interop/vectors/sm_vectors.json`` (Tongsuo's evppkey_sm2.txt and the
GB/T 32918.4 example); gmalg (independent pure Python) encrypts for the round trips, with the
raw ``C1 || C3 || C2`` it emits re-framed as the DER SEQUENCE by asn1crypto.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import gmalg
import pytest
from asn1crypto import core, pem

import hsm
from hsm.encoding import parse_spki, sm2_pkcs8_from_scalar
from hsm.openssl import OpenSSLSM2Key


def interop_dir() -> Path:
    """``TRUSTSVC_INTEROP_DIR`` or ``<repo>/../shared/interop`` (as tests/hsm/conftest.py)."""
    env = os.environ.get("TRUSTSVC_INTEROP_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "interop"


class _SM2Cipher(core.Sequence):
    """GM/T 0009 SM2Cipher (test-local schema)."""

    _fields = [
        ("x", core.Integer),
        ("y", core.Integer),
        ("hash", core.OctetString),
        ("ciphertext", core.OctetString),
    ]


def _raw_to_der(raw: bytes) -> bytes:
    assert raw[0] == 0x04
    x, y = int.from_bytes(raw[1:33], "big"), int.from_bytes(raw[33:65], "big")
    return _SM2Cipher({"x": x, "y": y, "hash": raw[65:97], "ciphertext": raw[97:]}).dump()


def test_known_answer_vectors(sm_vectors) -> None:
    vectors = sm_vectors["sm2_decrypt"]
    assert len(vectors) >= 4
    for v in vectors:
        key = OpenSSLSM2Key.from_pkcs8(sm2_pkcs8_from_scalar(int(v["private_key_hex"], 16)))
        assert key.decrypt(bytes.fromhex(v["ciphertext_asn1_hex"])) == v["plaintext_ascii"].encode()


def test_gmalg_round_trip() -> None:
    for size in (1, 16, 33, 200):
        key = OpenSSLSM2Key.generate()
        point = parse_spki(key.spki()).point
        plaintext = secrets.token_bytes(size)
        raw = gmalg.SM2(pk=point).encrypt(plaintext)
        assert key.decrypt(_raw_to_der(raw)) == plaintext


def test_wrong_key_tampered_and_garbage_are_one_error() -> None:
    key, other = OpenSSLSM2Key.generate(), OpenSSLSM2Key.generate()
    der = _raw_to_der(gmalg.SM2(pk=parse_spki(key.spki()).point).encrypt(b"content-encryption key"))
    with pytest.raises(hsm.HSMError) as wrong:
        other.decrypt(der)
    assert wrong.value.code == "sm2_decrypt_failed"
    tampered = der[:-1] + bytes([der[-1] ^ 1])  # C2 changed: C3 no longer matches
    with pytest.raises(hsm.HSMError):
        key.decrypt(tampered)
    for garbage in (b"", b"\x30\x00", b"not a ciphertext", der[:40]):
        with pytest.raises(hsm.HSMError):
            key.decrypt(garbage)


def test_public_key_cannot_decrypt() -> None:
    key = OpenSSLSM2Key.generate()
    public = OpenSSLSM2Key.from_spki(key.spki())
    with pytest.raises(hsm.HSMError):
        public.decrypt(b"\x30\x00")


def test_gmcert_envelope_key_decrypts_with_sign_key() -> None:
    """The CEK inside emmansun's gmcert.org signedAndEnvelopedData opens with the SIGN key.

    The 124-byte encryptedKey sits at a fixed place in the recipientInfo; it is taken out with
    the test-local schema rather than the CMS code under test elsewhere.
    """
    cms_dir = interop_dir() / "cms"
    if not cms_dir.is_dir():
        pytest.skip(f"interop collection not found at {cms_dir}")
    _, _, key_der = pem.unarmor((cms_dir / "gmsm_gmcert_signKey.pem").read_bytes())
    _, _, envelope = pem.unarmor((cms_dir / "gmsm_gmcert_signed_enveloped.p7.pem").read_bytes())
    start = envelope.index(bytes.fromhex("047c307a"))  # OCTET STRING(124) { SEQUENCE(122) ...
    encrypted_key = core.OctetString.load(envelope[start : start + 126]).native
    cek = OpenSSLSM2Key.from_pkcs8(key_der).decrypt(encrypted_key)
    assert len(cek) == 16  # an SM4 key
    _, _, enc_key_der = pem.unarmor((cms_dir / "gmsm_gmcert_expectedEncKey.pem").read_bytes())
    with pytest.raises(hsm.HSMError):
        OpenSSLSM2Key.from_pkcs8(enc_key_der).decrypt(encrypted_key)


def test_soft_key_store_decrypts_by_reference(tmp_path: Path) -> None:
    """An envelope's key is opened through KeyStore.decrypt: the caller holds a reference only."""
    store = hsm.SoftKeyStore(tmp_path / "keys", "pin", create=True)
    ref = store.create_key("recipient")
    point = parse_spki(store.public_key(ref)).point
    der = _raw_to_der(gmalg.SM2(pk=point).encrypt(b"sixteen byte key"))
    assert store.decrypt(ref, der) == b"sixteen byte key"
    other = store.create_key("other")
    with pytest.raises(hsm.HSMError) as wrong:
        store.decrypt(other, der)
    assert wrong.value.code == "sm2_decrypt_failed"
    p256 = store.create_key("p256", hsm.KeyAlgorithm.ECDSA_P256)
    with pytest.raises(hsm.UnsupportedAlgorithmError):
        store.decrypt(p256, der)
