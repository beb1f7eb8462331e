"""The tongsuo provider: cross-verification with OpenSSL both ways, custom IDs, key
interchange, and the install hint when tongsuopy is absent."""

from __future__ import annotations

import secrets
import sys

import pytest

import hsm
import hsm.tongsuo as tongsuo_mod
from hsm.encoding import parse_spki
from hsm.provider import SM2Provider
from hsm.soft import SoftKeyStore

IDS = [hsm.DEFAULT_SM2_ID, b"ALICE123@YAHOO.COM", b"", bytes(range(256)) * 3]


@pytest.fixture
def pair(openssl_provider: SM2Provider, tongsuo_provider: SM2Provider) -> dict[str, SM2Provider]:
    return {"openssl": openssl_provider, "tongsuo": tongsuo_provider}


@pytest.mark.parametrize(("signer", "verifier"), [("openssl", "tongsuo"), ("tongsuo", "openssl")])
@pytest.mark.parametrize("sm2_id", IDS, ids=["default", "alice", "empty", "long"])
def test_cross_verification(pair: dict[str, SM2Provider], signer: str, verifier: str, sm2_id: bytes) -> None:
    for _ in range(10):
        key = pair[signer].generate()
        message = secrets.token_bytes(secrets.randbelow(200))
        sig = key.sign(message, sm2_id)
        pub = pair[verifier].load_public(key.spki())
        pub.verify(message, sig, sm2_id)
        with pytest.raises(hsm.InvalidSignature):
            pub.verify(message, sig, sm2_id + b"x")
        with pytest.raises(hsm.InvalidSignature):
            pub.verify(message + b"x", sig, sm2_id)


@pytest.mark.parametrize(("signer", "verifier"), [("openssl", "tongsuo"), ("tongsuo", "openssl")])
def test_cross_verification_over_digest(pair: dict[str, SM2Provider], signer: str, verifier: str) -> None:
    key = pair[signer].generate()
    point = parse_spki(key.spki()).point
    e = hsm.sm2_e(point, b"digest path", b"custom-id")
    sig = key.sign_digest(e)
    pub = pair[verifier].load_public(key.spki())
    pub.verify_digest(e, sig)
    pub.verify(b"digest path", sig, b"custom-id")
    with pytest.raises(hsm.InvalidSignature):
        pub.verify_digest(hsm.sm3(b"digest path"), sig)


@pytest.mark.parametrize(("source", "target"), [("openssl", "tongsuo"), ("tongsuo", "openssl")])
def test_private_key_interchange(pair: dict[str, SM2Provider], source: str, target: str) -> None:
    key = pair[source].generate()
    moved = pair[target].load_private(key.pkcs8())
    assert moved.spki() == key.spki()
    sig = moved.sign(b"moved", hsm.DEFAULT_SM2_ID)
    pair[source].load_public(key.spki()).verify(b"moved", sig, hsm.DEFAULT_SM2_ID)


def test_tongsuo_spki_matches_openssl_encoding(pair: dict[str, SM2Provider]) -> None:
    key = pair["tongsuo"].generate()
    assert pair["openssl"].load_public(key.spki()).spki() == key.spki()
    assert parse_spki(key.spki()).algorithm is hsm.KeyAlgorithm.SM2


def test_tongsuo_rejects_non_sm2_keys(tongsuo_provider: SM2Provider) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    k = ec.generate_private_key(ec.SECP256R1())
    spki = k.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    pkcs8 = k.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with pytest.raises(hsm.HSMError):
        tongsuo_provider.load_public(spki)
    with pytest.raises(hsm.HSMError):
        tongsuo_provider.load_private(pkcs8)
    with pytest.raises(hsm.HSMError):
        tongsuo_provider.load_private(b"\x30\x00")


def test_public_handle_cannot_sign(tongsuo_provider: SM2Provider) -> None:
    pub = tongsuo_provider.load_public(tongsuo_provider.generate().spki())
    assert pub.has_private is False
    with pytest.raises(hsm.HSMError):
        pub.sign(b"m", hsm.DEFAULT_SM2_ID)
    with pytest.raises(hsm.HSMError):
        pub.pkcs8()


def test_soft_store_on_tongsuo_reopens_on_openssl(tmp_path, need_provider) -> None:
    """Keys sealed while tongsuo was the provider open and sign under openssl (and back)."""
    need_provider("tongsuo")
    hsm.set_default_provider("tongsuo")
    try:
        store = SoftKeyStore(tmp_path / "ks", "pin", create=True)
        ref = store.create_key("t")
        spki = store.public_key(ref)
        hsm.verify(spki, b"m", store.signer(ref).sign(b"m", sm2_id=b"id-1"), sm2_id=b"id-1")
    finally:
        hsm.set_default_provider("openssl")
    signer = SoftKeyStore(tmp_path / "ks", "pin").signer(ref)
    assert signer.public_key == spki
    hsm.verify(spki, b"m2", signer.sign(b"m2"))


def test_missing_tongsuopy_gives_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tongsuo_mod, "_mods", {})
    for mod in [m for m in sys.modules if m == "tongsuopy" or m.startswith("tongsuopy.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, "tongsuopy", None)  # makes "import tongsuopy" fail
    with pytest.raises(hsm.ProviderUnavailableError) as info:
        tongsuo_mod.TongsuoProvider()
    assert "pip install 'trustsvc[tongsuo]'" in info.value.message
    assert info.value.code == "sm2_provider_unavailable"


def test_wrong_tongsuopy_version_refused(monkeypatch: pytest.MonkeyPatch, need_provider) -> None:
    need_provider("tongsuo")
    import tongsuopy

    monkeypatch.setattr(tongsuo_mod, "_mods", {})
    monkeypatch.setattr(tongsuopy, "__version__", "1.0.2")
    with pytest.raises(hsm.ProviderUnavailableError) as info:
        tongsuo_mod.TongsuoProvider()
    assert "1.0.1" in info.value.message and "pip install 'trustsvc[tongsuo]'" in info.value.message
