"""Public keys: SPKI forms, algorithm detection, ECDSA P-256 verification against pyca."""

from __future__ import annotations

import pytest
from asn1crypto import core
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

import hsm
from hsm.algorithms import OID_SM2
from hsm.encoding import parse_spki, sm2_spki
from hsm.provider import SM2Provider
from hsm.soft import SoftKeyStore


class _Alg(core.Sequence):
    _fields = [("algorithm", core.ObjectIdentifier), ("parameters", core.Any, {"optional": True})]


class _SPKI(core.Sequence):
    _fields = [("algorithm", _Alg), ("public_key", core.OctetBitString)]


def _sm2_oid_form(point: bytes, *, null_params: bool) -> bytes:
    """The SPKI form with algorithm = sm2p256v1 (OpenSSL 3 / some TPMs emit it)."""
    alg: dict[str, object] = {"algorithm": OID_SM2}
    if null_params:
        alg["parameters"] = core.Null()
    return _SPKI({"algorithm": alg, "public_key": point}).dump()


@pytest.mark.parametrize("null_params", [False, True])
def test_sm2_oid_spki_form_is_accepted(provider: SM2Provider, null_params: bool) -> None:
    key = provider.generate()
    point = parse_spki(key.spki()).point
    alt = _sm2_oid_form(point, null_params=null_params)
    assert alt != key.spki()
    pub = hsm.load_public_key(alt)
    assert pub.algorithm is hsm.KeyAlgorithm.SM2
    assert pub.point == point
    hsm.verify(alt, b"m", key.sign(b"m", hsm.DEFAULT_SM2_ID))
    assert provider.load_public(alt).spki() == key.spki()


def test_spki_round_trip_and_algorithm(provider: SM2Provider) -> None:
    key = provider.generate()
    spki = key.spki()
    parsed = parse_spki(spki)
    assert parsed.algorithm is hsm.KeyAlgorithm.SM2
    assert sm2_spki(parsed.point) == spki
    assert hsm.load_public_key(spki).point == parsed.point


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda b: b + b"\x00", id="trailing_byte"),
        pytest.param(lambda b: b[:-1], id="truncated"),
        pytest.param(lambda b: b[:-65] + b"\x05" + b[-64:], id="bad_point_prefix"),
        pytest.param(lambda b: b[:-1] + bytes([b[-1] ^ 1]), id="point_off_curve"),
    ],
)
def test_malformed_sm2_spki_rejected(provider: SM2Provider, mutate) -> None:
    spki = provider.generate().spki()
    with pytest.raises(hsm.UnsupportedAlgorithmError):
        hsm.load_public_key(mutate(spki))


def test_compressed_point_rejected() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    point = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
    spki = _SPKI(
        {
            "algorithm": {"algorithm": "1.2.840.10045.2.1", "parameters": core.ObjectIdentifier("1.2.840.10045.3.1.7")},
            "public_key": point,
        }
    ).dump()
    with pytest.raises(hsm.UnsupportedAlgorithmError):
        hsm.load_public_key(spki)


def test_other_curves_rejected() -> None:
    for curve in (ec.SECP384R1(), ec.SECP256K1()):
        spki = (
            ec.generate_private_key(curve)
            .public_key()
            .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        with pytest.raises(hsm.UnsupportedAlgorithmError):
            hsm.load_public_key(spki)


def test_p256_spki_is_not_loaded_as_sm2(provider: SM2Provider) -> None:
    spki = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    assert hsm.load_public_key(spki).algorithm is hsm.KeyAlgorithm.ECDSA_P256
    with pytest.raises(hsm.HSMError):
        provider.load_public(spki)


def test_sm2_z_rejects_bad_points_and_long_ids() -> None:
    point = b"\x04" + b"\x01" * 64  # Z does not care whether the point is on the curve
    with pytest.raises(hsm.HSMError):
        hsm.sm2_z(point[1:])
    with pytest.raises(hsm.HSMError):
        hsm.sm2_z(point, b"x" * 8192)
    assert len(hsm.sm2_z(point, b"x" * 8191)) == 32


# -- ECDSA P-256 --------------------------------------------------------------------------------


def test_p256_signer_cross_checked_with_cryptography(tmp_path) -> None:
    store = SoftKeyStore(tmp_path / "ks", "pin", create=True)
    signer = store.signer(store.create_key("intl", hsm.KeyAlgorithm.ECDSA_P256))
    assert signer.algorithm is hsm.KeyAlgorithm.ECDSA_P256
    assert signer.signature_algorithm_oid == "1.2.840.10045.4.3.2"
    message = b"trust list 320000 #7"
    sig = signer.sign(message, sm2_id=b"ignored for ECDSA")
    # pyca verifies ours...
    pub = serialization.load_der_public_key(signer.public_key)
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    pub.verify(sig, message, ec.ECDSA(hashes.SHA256()))
    # ...and we verify ours, over the message and over its SHA-256.
    hsm.verify(signer.public_key, message, sig)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(message)
    hsm.verify_digest(signer.public_key, digest.finalize(), sig)
    with pytest.raises(hsm.InvalidSignature):
        hsm.verify(signer.public_key, message + b"!", sig)


def test_p256_pyca_signatures_verify_with_us() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    for i in range(20):
        message = bytes([i]) * (i * 7)
        hsm.verify(spki, message, key.sign(message, ec.ECDSA(hashes.SHA256())))
    h = hashes.Hash(hashes.SHA256())
    h.update(b"prehashed")
    digest = h.finalize()
    sig = key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    hsm.verify(spki, b"prehashed", sig)
    hsm.verify_digest(spki, digest, sig)
    with pytest.raises(hsm.InvalidSignature):
        hsm.verify_digest(spki, digest[:31], sig)
    with pytest.raises(hsm.InvalidSignature):
        hsm.verify(spki, b"prehashed", key.sign(b"prehashed", ec.ECDSA(hashes.SHA384())))
