"""Reading certificates: PEM/DER/bundles, fingerprints, and which signature algorithms pass."""

from __future__ import annotations

import hashlib

import pytest
from asn1crypto import algos, core, x509

import hsm
from ca import (
    CertificateError,
    SignatureAlgorithmError,
    load_certificates,
    parse_certificate,
    verify_certificate_signature,
)


def _rebuild(cert, *, outer=None, inner=None, signer=None):
    """Re-assemble ``cert`` with other AlgorithmIdentifiers (re-signing the TBS when asked)."""
    tbs = x509.TbsCertificate.load(cert.tbs_der)
    if inner is not None:
        tbs = tbs.copy()
        tbs["signature"] = inner
    signature = signer.sign(tbs.dump()) if signer is not None else cert.signature
    outer = outer if outer is not None else algos.SignedDigestAlgorithm.load(cert.signature_algorithm_der)
    return x509.Certificate({"tbs_certificate": tbs, "signature_algorithm": outer, "signature_value": signature}).dump()


def test_pem_and_der_give_the_same_cached_object(pki):
    leaf = pki.leaves["signer"]
    assert parse_certificate(leaf.cert.pem.encode()) is parse_certificate(leaf.der) is leaf.cert
    assert parse_certificate(leaf.cert) is leaf.cert


def test_fingerprints(pki):
    cert = pki.root.cert
    assert cert.sha256 == hashlib.sha256(cert.der).hexdigest()
    assert cert.sm3 == hsm.sm3(cert.der).hex()


def test_pem_bundle_order(pki):
    bundle = (pki.root.cert.pem + pki.issuing.cert.pem).encode()
    assert load_certificates(bundle) == [pki.root.cert, pki.issuing.cert]
    with pytest.raises(CertificateError):
        parse_certificate(bundle)  # one certificate expected
    with pytest.raises(CertificateError):
        load_certificates(bundle + b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")


@pytest.mark.parametrize(
    "junk", [b"", b"\x00", b"\x30\x00", b"hello", "证书".encode(), b"-----BEGIN CERTIFICATE-----\n!!\n"]
)
def test_garbage_is_a_certificate_error(junk):
    with pytest.raises(CertificateError) as err:
        parse_certificate(junk)
    assert err.value.code == "bad_certificate"


def test_trailing_data_rejected(pki):
    with pytest.raises(CertificateError):
        parse_certificate(pki.root.der + b"\x00")


def test_null_parameters_accepted_when_both_agree(pki):
    leaf = pki.leaves["signer"]
    with_null = algos.SignedDigestAlgorithm({"algorithm": "sm2_sm3", "parameters": core.Null()})
    der = _rebuild(leaf.cert, outer=with_null, inner=with_null, signer=pki.issuing.signer)
    cert = parse_certificate(der)
    assert cert.signature_parameters_der == b"\x05\x00"
    verify_certificate_signature(cert, pki.issuing.cert.spki)


def test_outer_and_tbs_algorithm_must_match(pki):
    leaf = pki.leaves["signer"]
    with_null = algos.SignedDigestAlgorithm({"algorithm": "sm2_sm3", "parameters": core.Null()})
    der = _rebuild(leaf.cert, outer=with_null)  # TBS untouched (parameters absent), outer NULL
    with pytest.raises(SignatureAlgorithmError, match="different signature algorithm"):
        verify_certificate_signature(der, pki.issuing.cert.spki)


def test_other_algorithms_refused(pki):
    leaf = pki.leaves["signer"]
    rsa = algos.SignedDigestAlgorithm({"algorithm": "sha256_rsa"})
    der = _rebuild(leaf.cert, outer=rsa, inner=rsa, signer=pki.issuing.signer)
    with pytest.raises(SignatureAlgorithmError, match="not accepted") as err:
        verify_certificate_signature(der, pki.issuing.cert.spki)
    assert isinstance(err.value, hsm.InvalidSignature)
    assert err.value.code == "unsupported_signature_algorithm"
    odd = algos.SignedDigestAlgorithm({"algorithm": "sm2_sm3", "parameters": core.Integer(1)})
    der = _rebuild(leaf.cert, outer=odd, inner=odd, signer=pki.issuing.signer)
    with pytest.raises(SignatureAlgorithmError, match="unexpected parameters"):
        verify_certificate_signature(der, pki.issuing.cert.spki)


def test_key_must_fit_algorithm(pki):
    p256 = pki.new_signer(hsm.KeyAlgorithm.ECDSA_P256)
    with pytest.raises(SignatureAlgorithmError, match="needs sm2"):
        verify_certificate_signature(pki.leaves["signer"].der, p256.public_key)
    with pytest.raises(SignatureAlgorithmError):
        verify_certificate_signature(pki.leaves["signer"].der, b"\x30\x00")


def test_wrong_issuer_key(pki):
    with pytest.raises(hsm.InvalidSignature):
        verify_certificate_signature(pki.leaves["signer"].der, pki.root.cert.spki)
