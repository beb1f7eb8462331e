"""Fuzz-safety: whatever the bytes, readers raise only trustsvc errors or InvalidSignature."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hsm
from ca import (
    CAError,
    CertificateError,
    RevokedEntry,
    build_crl,
    load_certificates,
    parse_certificate,
    parse_csr,
    validate_path,
    verify_certificate_signature,
    verify_crl,
    verify_csr,
)

FUZZ = settings(
    max_examples=int(os.environ.get("TRUSTSVC_FUZZ_EXAMPLES") or 400),  # make fuzz: more
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
ALLOWED = (CAError, hsm.InvalidSignature)  # CertificateError, CRLError, CSRError are CAErrors
NOW = datetime(2026, 11, 22, tzinfo=UTC)


def _mutate(data: bytes, draw) -> bytes:
    kind = draw(st.sampled_from(["flip", "set", "truncate", "insert", "delete"]))
    i = draw(st.integers(0, len(data) - 1))
    if kind == "flip":
        return data[:i] + bytes([data[i] ^ (1 << draw(st.integers(0, 7)))]) + data[i + 1 :]
    if kind == "set":
        return data[:i] + bytes([draw(st.integers(0, 255))]) + data[i + 1 :]
    if kind == "truncate":
        return data[:i]
    if kind == "insert":
        return data[:i] + draw(st.binary(min_size=1, max_size=4)) + data[i:]
    return data[:i] + data[i + 1 + draw(st.integers(0, 3)) :]


def _pem(label: str, body: bytes) -> bytes:
    return f"-----BEGIN {label}-----\n".encode() + base64.encodebytes(body) + f"-----END {label}-----\n".encode()


def _accepts_or_refuses(fn, *args):
    try:
        fn(*args)
    except ALLOWED:
        pass


@FUZZ
@given(st.binary(max_size=1500))
def test_random_bytes_as_certificate(data):
    for fn in (parse_certificate, load_certificates):
        try:
            fn(data)
        except CertificateError:
            pass


@FUZZ
@given(st.binary(max_size=600), st.sampled_from(["CERTIFICATE", "PKCS7", "X509 CRL", "CERTIFICATE REQUEST"]))
def test_random_pem(body, label):
    data = _pem(label, body)
    for fn in (parse_certificate, load_certificates, parse_csr):
        _accepts_or_refuses(fn, data)


@FUZZ
@given(st.data())
def test_mutated_certificate(pki, data):
    original = pki.leaves["signer"].der
    mutated = _mutate(original, data.draw)
    try:
        cert = parse_certificate(mutated)
    except CertificateError:
        return
    _accepts_or_refuses(verify_certificate_signature, cert, pki.issuing.cert.spki)
    try:
        result = validate_path(cert, intermediates=[pki.issuing.der], anchors=[pki.root.der], at=NOW)
    except CertificateError:
        return
    if mutated != original and cert.tbs_der != pki.leaves["signer"].cert.tbs_der:
        assert not result.passed


@FUZZ
@given(st.data())
def test_mutated_interop_certificate(interop_dir, data):
    original = parse_certificate((interop_dir / "certs" / "tongsuo_sm2-cert.pem").read_bytes()).der
    mutated = _mutate(original, data.draw)
    try:
        load_certificates(mutated)
    except CertificateError:
        pass


@FUZZ
@given(st.data())
def test_mutated_crl(pki, data):
    crl = _crl(pki)
    mutated = _mutate(crl, data.draw)
    try:
        verify_crl(mutated, pki.issuing.der)
    except ALLOWED:
        return
    # accepted: the signed part must be untouched (e.g. a change in the signature's unused bits)
    assert verify_crl(mutated, pki.issuing.der).tbs_der == verify_crl(crl, pki.issuing.der).tbs_der


@FUZZ
@given(st.binary(max_size=800))
def test_random_bytes_as_crl(pki, data):
    _accepts_or_refuses(verify_crl, data, pki.issuing.der)


@FUZZ
@given(st.data())
def test_mutated_csr(pki, data):
    from ca import SubjectSpec, build_csr

    der = _csr(pki, build_csr, SubjectSpec)
    _accepts_or_refuses(verify_csr, _mutate(der, data.draw))


_cache: dict[str, bytes] = {}


def _crl(pki) -> bytes:
    if "crl" not in _cache:
        _cache["crl"] = build_crl(
            issuer_cert=pki.issuing.der,
            issuer_signer=pki.issuing.signer,
            revoked=[RevokedEntry(5, NOW - timedelta(days=1), "key_compromise"), RevokedEntry(6, NOW, "superseded")],
            crl_number=3,
            this_update=NOW,
            next_update=NOW + timedelta(days=7),
        )
    return _cache["crl"]


def _csr(pki, build_csr, SubjectSpec) -> bytes:
    if "csr" not in _cache:
        _cache["csr"] = build_csr(SubjectSpec("模糊测试"), pki.leaves["signer"].signer)
    return _cache["csr"]
