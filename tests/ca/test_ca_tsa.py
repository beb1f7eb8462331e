"""RFC 3161 time-stamping with SM2 (ca.tsa): stamp and verify, the TSA certificate rules,
the responder's answers to good and bad requests, and OpenSSL reading what we produce and
asking us for tokens."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import tsp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hsm
from ca import (
    CAError,
    TimeStampAuthority,
    build_timestamp_request,
    parse_timestamp_response,
    sign_cms,
    verify_timestamp_token,
)
from ca.cms import CT_TST_INFO, CMSError
from ca.oids import TRUSTSVC_ARC
from ca.tsa import TimeStampError

POLICY = TRUSTSVC_ARC + ".2.1"
DATA = "GB/T 38540 SES_Signature.signature 值".encode()
FUZZ = settings(
    max_examples=int(os.environ.get("TRUSTSVC_FUZZ_EXAMPLES") or 200),  # make fuzz: more
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _results(v) -> dict[str, str]:
    return {c.name: c.result for c in v.checks}


class _Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture(scope="module")
def clock(pki) -> _Clock:
    return _Clock(pki.leaves["tsa"].cert.not_before + timedelta(hours=2, microseconds=654321))


@pytest.fixture(scope="module")
def tsa(pki, clock) -> TimeStampAuthority:
    leaf = pki.leaves["tsa"]
    return TimeStampAuthority(leaf.signer, leaf.der, [pki.issuing.der, pki.root.der], policy_oid=POLICY, clock=clock)


def test_stamp_then_verify(tsa, pki, clock):
    token = tsa.stamp(hsm.sm3(DATA), nonce=42)
    v = verify_timestamp_token(token, data=DATA, nonce=42)
    assert v.valid, [c for c in v.checks if c.result != "passed"]
    assert v.gen_time == clock.at.replace(microsecond=0)  # UTC, whole seconds
    assert v.gen_time.tzinfo == UTC
    assert v.policy == POLICY and v.hash_algorithm == "sm3" and v.message_imprint == hsm.sm3(DATA)
    assert v.nonce == 42 and v.accuracy == timedelta(seconds=1)
    assert 0 < v.serial < 2**128
    assert v.tsa_cert_der == pki.leaves["tsa"].der
    results = _results(v)
    for name in ("cms.signature", "tst.signing_certificate", "tst.tsa_certificate", "tst.message_imprint", "tst.nonce"):
        assert results[name] == "passed", name
    assert v.cms is not None and v.cms.shape == "attached_signed_attributes" and v.cms.content_type == CT_TST_INFO
    assert v.cms.signing_time == v.gen_time


def test_serials_are_random(tsa):
    serials = {verify_timestamp_token(tsa.stamp(hsm.sm3(DATA))).serial for _ in range(5)}
    assert len(serials) == 5


def test_sha256_imprint_and_given_imprint(tsa):
    import hashlib

    imprint = hashlib.sha256(DATA).digest()
    token = tsa.stamp(imprint, "sha256")
    assert verify_timestamp_token(token, data=DATA).valid
    assert verify_timestamp_token(token, imprint=imprint).valid
    assert verify_timestamp_token(token).check("tst.message_imprint").result == "skipped"


def test_wrong_data_is_an_imprint_mismatch(tsa):
    token = tsa.stamp(hsm.sm3(DATA))
    v = verify_timestamp_token(token, data=DATA + b"!")
    assert not v.valid
    assert _results(v)["tst.message_imprint"] == "failed"
    assert _results(v)["cms.signature"] == "passed"
    assert not verify_timestamp_token(token, data=DATA, nonce=7).valid  # nonce asked, none echoed


def test_tsa_certificate_without_critical_eku_refused(pki, tsa_noncritical, clock):
    with pytest.raises(CAError) as exc:
        TimeStampAuthority(tsa_noncritical.signer, tsa_noncritical.der, policy_oid=POLICY)
    assert exc.value.code == "not_a_tsa_certificate" and "not critical" in exc.value.message
    with pytest.raises(CAError) as exc:
        TimeStampAuthority(pki.leaves["signer"].signer, pki.leaves["signer"].der, policy_oid=POLICY)
    assert exc.value.code == "not_a_tsa_certificate"
    # A token such a certificate signs anyway (built by hand) does not verify as a time-stamp.
    info = tsp.TSTInfo(
        {
            "version": "v1",
            "policy": POLICY,
            "message_imprint": {"hash_algorithm": {"algorithm": "sm3"}, "hashed_message": hsm.sm3(DATA)},
            "serial_number": 1,
            "gen_time": clock.at.replace(microsecond=0),
        }
    ).dump()
    token = sign_cms(
        info, signer=tsa_noncritical.signer, signer_cert=tsa_noncritical.der, detached=False, content_type="tst_info"
    )
    v = verify_timestamp_token(token, data=DATA)
    assert _results(v)["cms.signature"] == "passed"
    assert _results(v)["tst.tsa_certificate"] == "failed" and not v.valid


def test_tsa_key_must_match_certificate(pki):
    with pytest.raises(CAError) as exc:
        TimeStampAuthority(pki.leaves["signer"].signer, pki.leaves["tsa"].der, policy_oid=POLICY)
    assert exc.value.code == "key_mismatch"


def test_not_a_timestamp_token(pki):
    leaf = pki.leaves["signer"]
    plain = sign_cms(DATA, signer=leaf.signer, signer_cert=leaf.der, detached=False)
    with pytest.raises(TimeStampError):
        verify_timestamp_token(plain)
    with pytest.raises(CMSError):
        verify_timestamp_token(b"\x30\x03\x02\x01\x01")


def test_cert_req_false_leaves_certificates_out(tsa, pki):
    token = tsa.stamp(hsm.sm3(DATA), cert_req=False)
    alone = verify_timestamp_token(token, data=DATA)
    assert not alone.valid and _results(alone)["cms.signer_certificate"] == "failed"
    assert verify_timestamp_token(token, data=DATA, certificates=[pki.leaves["tsa"].der]).valid


# ------------------------------------------------------------------------------------------
# the responder


def test_respond_grants_a_request(tsa):
    request = build_timestamp_request(DATA, nonce=123456789)
    response = parse_timestamp_response(tsa.respond(request))
    assert response.granted and response.status == "granted" and response.failure_info == frozenset()
    v = verify_timestamp_token(response.token, data=DATA, nonce=123456789)
    assert v.valid
    assert tsp.TimeStampReq.load(build_timestamp_request(DATA))["nonce"].native is not None


def _reject(tsa, request: bytes) -> frozenset[str]:
    response = parse_timestamp_response(tsa.respond(request))
    assert response.status == "rejection" and response.token is None and response.status_strings
    return response.failure_info


def test_respond_rejections(tsa):
    import hashlib

    good = tsp.TimeStampReq.load(build_timestamp_request(DATA))
    assert _reject(tsa, b"") == {"bad_data_format"}
    assert _reject(tsa, b"\x30\x00") == {"bad_data_format"}
    assert _reject(tsa, b"garbage" * 10) == {"bad_data_format"}
    sha1 = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {"hash_algorithm": {"algorithm": "sha1"}, "hashed_message": hashlib.sha1(DATA).digest()},
        }
    ).dump()
    assert _reject(tsa, sha1) == {"bad_alg"}
    short = tsp.TimeStampReq(
        {"version": "v1", "message_imprint": {"hash_algorithm": {"algorithm": "sm3"}, "hashed_message": b"\x01" * 20}}
    ).dump()
    assert _reject(tsa, short) == {"bad_data_format"}
    v2 = tsp.TimeStampReq({"version": "v2", "message_imprint": good["message_imprint"]}).dump()
    assert _reject(tsa, v2) == {"bad_request"}
    policy = build_timestamp_request(DATA, policy_oid="1.2.3.4.99")
    assert _reject(tsa, policy) == {"unaccepted_policy"}
    ext = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": good["message_imprint"],
            "extensions": [{"extn_id": "1.2.3.4", "critical": False, "extn_value": b"\x05\x00"}],
        }
    ).dump()
    assert _reject(tsa, ext) == {"unaccepted_extensions"}
    assert parse_timestamp_response(tsa.respond(build_timestamp_request(DATA, policy_oid=POLICY))).granted


def test_respond_never_raises_on_signer_failure(pki, clock):
    class Broken(hsm.Signer):
        key_ref = "soft:broken"
        algorithm = pki.leaves["tsa"].signer.algorithm
        public_key = pki.leaves["tsa"].signer.public_key

        def sign(self, message, *, sm2_id=hsm.DEFAULT_SM2_ID):
            raise hsm.HSMError("token removed")

        def sign_digest(self, digest):
            raise hsm.HSMError("token removed")

    authority = TimeStampAuthority(Broken(), pki.leaves["tsa"].der, policy_oid=POLICY, clock=clock)
    assert _reject(authority, build_timestamp_request(DATA)) == {"system_failure"}


# ------------------------------------------------------------------------------------------
# OpenSSL


def test_openssl_prints_our_response_and_token(tsa, run_openssl, tmp_path):
    request = build_timestamp_request(DATA, nonce=0x1234ABCD)
    response = tsa.respond(request)
    token = parse_timestamp_response(response).token
    serial = verify_timestamp_token(token).serial
    (tmp_path / "resp.tsr").write_bytes(response)
    (tmp_path / "token.der").write_bytes(token)
    for args in (("-in", tmp_path / "resp.tsr"), ("-in", tmp_path / "token.der", "-token_in")):
        out = run_openssl("ts", "-reply", *args, "-text").stdout
        assert f"Policy OID: {POLICY}" in out
        printed = re.search(r"Serial number: 0x([0-9A-F]+)", out)
        assert printed is not None and int(printed.group(1), 16) == serial
        assert "Hash Algorithm: sm3" in out and "Nonce: 0x1234ABCD" in out
    assert "Status: Granted." in run_openssl("ts", "-reply", "-in", tmp_path / "resp.tsr", "-text").stdout


@pytest.mark.parametrize("digest", ["sm3", "sha256"])
def test_openssl_query_answered(tsa, run_openssl, tmp_path, digest):
    data_file = tmp_path / "data.bin"
    data_file.write_bytes(DATA)
    run_openssl("ts", "-query", "-data", data_file, f"-{digest}", "-cert", "-out", tmp_path / "req.tsq")
    response = tsa.respond((tmp_path / "req.tsq").read_bytes())
    (tmp_path / "resp.tsr").write_bytes(response)
    out = run_openssl("ts", "-reply", "-in", tmp_path / "resp.tsr", "-text").stdout
    assert "Status: Granted." in out and f"Hash Algorithm: {digest}" in out
    nonce = tsp.TimeStampReq.load((tmp_path / "req.tsq").read_bytes())["nonce"].native
    v = verify_timestamp_token(parse_timestamp_response(response).token, data=DATA, nonce=nonce)
    assert v.valid and v.hash_algorithm == digest


def test_openssl_reads_a_rejection(tsa, run_openssl, tmp_path):
    (tmp_path / "rej.tsr").write_bytes(tsa.respond(b"not a request"))
    out = run_openssl("ts", "-reply", "-in", tmp_path / "rej.tsr", "-text").stdout
    assert "Status: Rejected." in out and "the data submitted has the wrong format" in out


# ------------------------------------------------------------------------------------------
# fuzzing


def _mutate(data: bytes, draw) -> bytes:
    i = draw(st.integers(0, len(data) - 1))
    kind = draw(st.sampled_from(["flip", "truncate", "insert"]))
    if kind == "flip":
        return data[:i] + bytes([data[i] ^ (1 << draw(st.integers(0, 7)))]) + data[i + 1 :]
    if kind == "truncate":
        return data[:i]
    return data[:i] + draw(st.binary(min_size=1, max_size=3)) + data[i:]


@FUZZ
@given(st.binary(max_size=300))
def test_fuzz_respond_random_bytes(tsa, data):
    response = parse_timestamp_response(tsa.respond(data))
    assert response.status in ("granted", "rejection")


@FUZZ
@given(st.data())
def test_fuzz_respond_mutated_requests(tsa, data):
    request = build_timestamp_request(DATA, nonce=0x5EED)  # fixed: hypothesis replays inputs
    response = parse_timestamp_response(tsa.respond(_mutate(request, data.draw)))
    assert response.status in ("granted", "rejection")
    if response.status == "rejection":
        assert response.failure_info


_token: dict[str, bytes] = {}


@FUZZ
@given(st.data())
def test_fuzz_verify_mutated_tokens(tsa, data):
    if "t" not in _token:
        _token["t"] = tsa.stamp(hsm.sm3(DATA))
    mutated = _mutate(_token["t"], data.draw)
    try:
        v = verify_timestamp_token(mutated, data=DATA)
    except (CAError, hsm.InvalidSignature):
        return
    assert isinstance(v.valid, bool)


@FUZZ
@given(st.binary(max_size=600))
def test_fuzz_verify_random_bytes(data):
    for fn in (verify_timestamp_token, parse_timestamp_response):
        try:
            fn(data)
        except (CAError, hsm.InvalidSignature):
            pass
