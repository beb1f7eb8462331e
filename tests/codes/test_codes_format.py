"""The TS1: wire format: round trip, the decoder's strictness, and that nothing but
CodeFormatError ever comes out of decoding."""

from __future__ import annotations

import os
import zlib

import base45
import cbor2
import pytest
from code_example import CLAIMS, SIGNER_SCALAR, scalar_signer
from hypothesis import given, settings
from hypothesis import strategies as st

from hsm import verify
from hsm.encoding import signature_from_raw
from trustsvc.codes.format import (
    ALG_SM2_SM3,
    DYNAMIC,
    STATIC,
    CodeClaims,
    CodeFormatError,
    decode_code,
    encode_claims,
    sig_structure,
    sign_code,
)
from trustsvc.errors import InvalidInputError

CERT = b"not a real certificate, only its SM3 matters for the kid"
SIGNER = scalar_signer(SIGNER_SCALAR, "format-test")


def _text(cose: bytes) -> str:
    return "TS1:" + base45.b45encode(zlib.compress(cose, 9)).decode()


def _cose(
    protected: object = None,
    unprotected: object = None,
    payload: bytes | None = None,
    signature: bytes = b"\x01" * 64,
    tag: int | None = 18,
) -> bytes:
    protected_b = cbor2.dumps({1: ALG_SM2_SM3, 4: b"12345678"} if protected is None else protected)
    body = [
        protected_b,
        {} if unprotected is None else unprotected,
        encode_claims(CLAIMS) if payload is None else payload,
        signature,
    ]
    return cbor2.dumps(cbor2.CBORTag(tag, body) if tag is not None else body)


def test_round_trip_keeps_every_claim_and_the_signature_verifies():
    text = sign_code(CLAIMS, signer=SIGNER, cert_der=CERT)
    code = decode_code(text)
    assert code.claims == CLAIMS
    assert code.alg == ALG_SM2_SM3 and len(code.kid) == 8 and len(code.signature) == 64
    verify(SIGNER.public_key, sig_structure(code.protected, code.payload), signature_from_raw(code.signature))


def test_static_code_without_expiry_round_trips():
    claims = CodeClaims(iss="320000", sub=CLAIMS.sub, typ=STATIC, iat=CLAIMS.iat, exp=None, status_index=5)
    code = decode_code(sign_code(claims, signer=SIGNER, cert_der=CERT))
    assert code.claims == claims and code.claims.exp is None and 4 not in cbor2.loads(code.payload)


def test_payload_is_deterministic_cbor():
    assert encode_claims(CLAIMS) == encode_claims(CLAIMS)
    assert list(cbor2.loads(encode_claims(CLAIMS))) == [1, 2, 4, 6, 7, "d", "si", "typ"]


def test_claims_refuse_inconsistent_types():
    with pytest.raises(CodeFormatError):
        CodeClaims(iss="320000", sub="x", typ=DYNAMIC, iat=1, exp=2, nonce=None)
    with pytest.raises(CodeFormatError):
        CodeClaims(iss="320000", sub="x", typ=STATIC, iat=1, exp=2, nonce=b"0" * 16)
    with pytest.raises(CodeFormatError):
        CodeClaims(iss="320000", sub="x", typ="other", iat=1, exp=2)


@pytest.mark.parametrize(
    "text, why",
    [
        ("HC1:NCFOXN", "starts with TS1:"),
        ("ts1:" + _text(_cose())[4:], "starts with TS1:"),
        ("TS1:" + _text(_cose())[4:].lower(), "Base45"),
        ("TS1:A", "Base45"),
        ("TS1:" + base45.b45encode(b"not zlib").decode(), "zlib"),
        ("TS1:" + base45.b45encode(zlib.compress(_cose()) + b"x").decode(), "followed by other data"),
        ("TS1:" + base45.b45encode(zlib.compress(_cose())[:-3]).decode(), "truncated"),
        (_text(_cose() + b"\x00"), "bytes after its CBOR item"),
        (_text(_cose(tag=None)), "tagged COSE_Sign1"),
        (_text(_cose(tag=98)), "tagged COSE_Sign1"),
        (_text(cbor2.dumps(cbor2.CBORTag(18, [b"", {}, b""]))), "array of 4"),
        (_text(_cose(unprotected={4: b"12345678"})), "unprotected header must be empty"),
        (_text(_cose(protected={1: ALG_SM2_SM3, 2: [1], 4: b"12345678"})), "critical"),
        (_text(_cose(protected={1: ALG_SM2_SM3, 4: b"1234"})), "kid of 8 bytes"),
        (_text(_cose(protected=[1, 2])), "not a map"),
        (_text(_cose(payload=b"\xa1\x01")), "not valid CBOR"),
        (_text(_cose(payload=cbor2.dumps([1]))), "map of claims"),
        (_text(_cose(payload=cbor2.dumps({1: "999999", 2: "x", 6: 1, "typ": "static"}))), "GB/T 2260"),
        (_text(_cose(payload=cbor2.dumps({1: "320000", 2: "x", 6: -1, "typ": "static"}))), "iat"),
        (_text(_cose(payload=cbor2.dumps({1: "320000", 2: "x", 6: 1, "typ": "weekly"}))), "typ"),
        (_text(_cose(payload=cbor2.dumps({1: "320000", 2: "x", 6: 1, 4: 2, "typ": "dynamic"}))), "nonce"),
        (_text(_cose(payload=cbor2.dumps({1: "320000", 2: "x", 6: 1, "typ": "static", "d": {"zz": "1"}}))), "display"),
        ("TS1:" + base45.b45encode(zlib.compress(b"\x00" * 20000)).decode(), "inflates to more than"),
        ("TS1:" + "A" * 5000, "at most 4296"),
    ],
)
def test_decoder_refuses(text, why):
    with pytest.raises(CodeFormatError) as info:
        decode_code(text)
    assert why in info.value.message
    assert info.value.code == "invalid_code"


def test_non_text_is_refused():
    with pytest.raises(CodeFormatError):
        decode_code(b"TS1:ABC")


@settings(max_examples=int(os.environ.get("TRUSTSVC_FUZZ_EXAMPLES") or 300), deadline=None)
@given(st.text(max_size=300))
def test_any_text_decodes_or_raises_code_format_error(text):
    for candidate in (text, "TS1:" + text):
        try:
            decode_code(candidate)
        except CodeFormatError:
            pass


@settings(max_examples=int(os.environ.get("TRUSTSVC_FUZZ_EXAMPLES") or 300), deadline=None)
@given(st.binary(max_size=400))
def test_any_inflated_bytes_decode_or_raise_code_format_error(blob):
    try:
        decode_code(_text(blob))
    except CodeFormatError:
        pass


@settings(max_examples=int(os.environ.get("TRUSTSVC_FUZZ_EXAMPLES") or 200), deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.binary(max_size=20) | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=5) | st.dictionaries(st.integers() | st.text(max_size=4), inner, max_size=5)
        ),
        max_leaves=20,
    )
)
def test_any_cbor_in_the_payload_decodes_or_raises_code_format_error(value):
    try:
        decode_code(_text(_cose(payload=cbor2.dumps(value))))
    except CodeFormatError:
        pass


def test_code_format_error_is_an_invalid_input_error():
    assert issubclass(CodeFormatError, InvalidInputError)
