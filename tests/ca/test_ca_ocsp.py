"""OCSP with SM2 (ca.ocsp_responder, ca.ocsp_client): the responder's answers (good / revoked / unknown, malformed,
unauthorized), verification (responder authorization, CertID, freshness, nonce), OpenSSL
reading our responses and asking us, and path validation through OCSPRevocationChecker."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import ocsp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hsm
from ca import (
    CAError,
    Indication,
    OCSPResponder,
    OCSPRevocationChecker,
    RevocationStatus,
    SubIndication,
    build_ocsp_request,
    issuer_key_hashes,
    ocsp_request_nonce,
    validate_path,
    verify_ocsp_response,
)
from ca.ocsp import OCSPError

FUZZ = settings(
    max_examples=int(os.environ.get("TRUSTSVC_FUZZ_EXAMPLES") or 200),  # make fuzz: more
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
REVOKED_AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _results(v) -> dict[str, str]:
    return {c.name: c.result for c in v.checks}


@pytest.fixture(scope="module")
def statuses(pki):
    """Revocation state the lookup serves: code_signer revoked, status_list_signer unknown."""
    revoked = pki.leaves["code_signer"].cert.serial
    unknown = pki.leaves["status_list_signer"].cert.serial
    calls: list[tuple[str, int]] = []

    def lookup(issuer, serial):
        calls.append((issuer.subject_str, serial))
        if serial == revoked:
            return RevocationStatus("revoked", revoked_at=REVOKED_AT, reason="key_compromise")
        if serial == unknown:
            return RevocationStatus("unknown")
        return RevocationStatus("good")

    lookup.calls = calls  # type: ignore[attr-defined]
    return lookup


@pytest.fixture(scope="module")
def responder(pki) -> OCSPResponder:
    leaf = pki.leaves["ocsp"]
    return OCSPResponder(leaf.signer, leaf.der, {issuer_key_hashes(pki.issuing.der)["sha1"]: pki.issuing.der})


def _ask(responder, lookup, pki, leaf_name, **kwargs):
    req = build_ocsp_request(pki.leaves[leaf_name].der, pki.issuing.der, **kwargs)
    return req, responder.respond(req, lookup)


@pytest.mark.parametrize(
    ("leaf", "status"),
    [("signer", "good"), ("code_signer", "revoked"), ("status_list_signer", "unknown")],
)
def test_good_revoked_unknown_verify(responder, statuses, pki, leaf, status):
    req, resp = _ask(responder, statuses, pki, leaf)
    v = verify_ocsp_response(
        resp, issuer_cert=pki.issuing.der, cert=pki.leaves[leaf].der, nonce=ocsp_request_nonce(req)
    )
    assert v.valid, v.checks
    assert v.response_status == "successful" and v.status == status
    assert v.serial == pki.leaves[leaf].cert.serial
    assert v.responder_cert_der == pki.leaves["ocsp"].der
    assert _results(v)["ocsp.responder"] == "passed" and _results(v)["ocsp.nonce"] == "passed"
    assert v.next_update - v.this_update == timedelta(hours=1)
    if status == "revoked":
        assert v.revoked_at == REVOKED_AT and v.reason == "key_compromise"
    else:
        assert v.revoked_at is None


@pytest.mark.parametrize("algorithm", ["sha1", "sm3", "sha256"])
def test_cert_id_answered_in_the_algorithm_asked(responder, statuses, pki, algorithm):
    req, resp = _ask(responder, statuses, pki, "signer", hash_algorithm=algorithm)
    basic = ocsp.OCSPResponse.load(resp)["response_bytes"]["response"].parsed
    single = basic["tbs_response_data"]["responses"][0]
    assert single["cert_id"].dump() == ocsp.OCSPRequest.load(req)["tbs_request"]["request_list"][0]["req_cert"].dump()
    assert verify_ocsp_response(resp, issuer_cert=pki.issuing.der, cert=pki.leaves["signer"].der).valid


def test_responder_id_by_key_and_certs_included(responder, statuses, pki):
    import hashlib

    _, resp = _ask(responder, statuses, pki, "signer")
    basic = ocsp.OCSPResponse.load(resp)["response_bytes"]["response"].parsed
    rid = basic["tbs_response_data"]["responder_id"]
    assert rid.name == "by_key"
    assert rid.chosen.native == hashlib.sha1(pki.leaves["ocsp"].cert.public_key_point).digest()
    assert [c.dump() for c in basic["certs"]] == [pki.leaves["ocsp"].der]
    assert basic["signature_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.501"


def test_nonce_echoed_and_checked(responder, statuses, pki):
    req, resp = _ask(responder, statuses, pki, "signer", nonce=b"\x11" * 20)
    assert ocsp_request_nonce(req) == b"\x11" * 20
    v = verify_ocsp_response(resp, issuer_cert=pki.issuing.der, cert=pki.leaves["signer"].der, nonce=b"\x11" * 20)
    assert v.nonce == b"\x11" * 20 and v.valid
    wrong = verify_ocsp_response(resp, issuer_cert=pki.issuing.der, nonce=b"\x22" * 20)
    assert not wrong.valid and _results(wrong)["ocsp.nonce"] == "failed"
    _, no_nonce = _ask(responder, statuses, pki, "signer", nonce=False)
    missing = verify_ocsp_response(no_nonce, issuer_cert=pki.issuing.der, nonce=b"\x11" * 20)
    assert not missing.valid and _results(missing)["ocsp.nonce"] == "failed"


def test_ca_key_may_answer_for_itself(pki, statuses):
    responder = OCSPResponder(pki.issuing.signer, pki.issuing.der, [pki.issuing.der])
    _, resp = _ask(responder, statuses, pki, "signer")
    v = verify_ocsp_response(resp, issuer_cert=pki.issuing.der, cert=pki.leaves["signer"].der)
    assert v.valid and "itself" in v.check("ocsp.responder").detail


def test_responder_must_be_authorized(pki):
    signer_leaf = pki.leaves["signer"]  # issued by the CA but without OCSPSigning
    with pytest.raises(CAError) as exc:
        OCSPResponder(signer_leaf.signer, signer_leaf.der, [pki.issuing.der])
    assert exc.value.code == "responder_not_authorized"
    with pytest.raises(CAError):  # a delegated responder of the department CA, not of the root
        OCSPResponder(pki.leaves["ocsp"].signer, pki.leaves["ocsp"].der, [pki.root.der])
    with pytest.raises(CAError) as exc:
        OCSPResponder(signer_leaf.signer, pki.leaves["ocsp"].der, [pki.issuing.der])
    assert exc.value.code == "key_mismatch"


def _resign(resp: bytes, signer: hsm.Signer, cert_der: bytes) -> bytes:
    """The same ResponseData, re-signed by ``signer`` with ``cert_der`` as responder."""
    import hashlib

    from asn1crypto import x509

    from ca import parse_certificate

    outer = ocsp.OCSPResponse.load(resp)
    basic = outer["response_bytes"]["response"].parsed
    tbs = basic["tbs_response_data"]
    tbs["responder_id"] = ocsp.ResponderId(
        name="by_key", value=hashlib.sha1(parse_certificate(cert_der).public_key_point).digest()
    )
    tbs_der = tbs.dump(force=True)
    forged = ocsp.BasicOCSPResponse(
        {
            "tbs_response_data": ocsp.ResponseData.load(tbs_der),
            "signature_algorithm": {"algorithm": signer.signature_algorithm_oid},
            "signature": signer.sign(tbs_der),
            "certs": [x509.Certificate.load(cert_der)],
        }
    )
    return ocsp.OCSPResponse(
        {
            "response_status": "successful",
            "response_bytes": {"response_type": "basic_ocsp_response", "response": forged},
        }
    ).dump()


def test_response_signed_by_non_delegated_key_rejected(responder, statuses, pki):
    _, resp = _ask(responder, statuses, pki, "code_signer")
    for name in ("signer", "tsa"):  # issued by the same CA, signature valid, but no OCSPSigning
        forged = _resign(resp, pki.leaves[name].signer, pki.leaves[name].der)
        v = verify_ocsp_response(forged, issuer_cert=pki.issuing.der, cert=pki.leaves["code_signer"].der)
        assert _results(v)["ocsp.signature"] == "passed"
        assert _results(v)["ocsp.responder"] == "failed" and not v.valid
        assert "OCSPSigning" in v.check("ocsp.responder").detail
    # the root is not the issuer of these certificates either
    forged = _resign(resp, pki.root.signer, pki.root.der)
    assert not verify_ocsp_response(forged, issuer_cert=pki.issuing.der).valid
    # tampered response: signature fails
    index = resp.index(b"\x18\x0f") + 5  # inside producedAt
    tampered = resp[:index] + bytes([resp[index] ^ 1]) + resp[index + 1 :]
    v = verify_ocsp_response(tampered, issuer_cert=pki.issuing.der)
    assert _results(v)["ocsp.signature"] == "failed"


def test_freshness_and_cert_id(responder, statuses, pki):
    _, resp = _ask(responder, statuses, pki, "signer")
    later = verify_ocsp_response(resp, issuer_cert=pki.issuing.der, now=datetime.now(UTC) + timedelta(hours=3))
    assert not later.valid and _results(later)["ocsp.freshness"] == "failed"
    earlier = verify_ocsp_response(resp, issuer_cert=pki.issuing.der, now=datetime.now(UTC) - timedelta(hours=3))
    assert not earlier.valid
    other = verify_ocsp_response(resp, issuer_cert=pki.issuing.der, cert=pki.leaves["tsa"].der)
    assert not other.valid and _results(other)["ocsp.cert_id"] == "failed"
    wrong_issuer = verify_ocsp_response(resp, issuer_cert=pki.root.der)
    assert not wrong_issuer.valid


def test_malformed_unauthorized_and_internal_error(responder, statuses, pki):
    for junk in (b"", b"\x30\x00", b"garbage", build_ocsp_request(pki.leaves["signer"].der, pki.issuing.der)[:-2]):
        v = verify_ocsp_response(responder.respond(junk, statuses), issuer_cert=pki.issuing.der)
        assert v.response_status == "malformed_request" and not v.valid
    foreign = build_ocsp_request(pki.issuing.der, pki.root.der)  # the root is not served
    assert (
        verify_ocsp_response(responder.respond(foreign, statuses), issuer_cert=pki.root.der).response_status
        == "unauthorized"
    )

    def broken(issuer, serial):
        raise RuntimeError("database down")

    req = build_ocsp_request(pki.leaves["signer"].der, pki.issuing.der)
    assert (
        verify_ocsp_response(responder.respond(req, broken), issuer_cert=pki.issuing.der).response_status
        == "internal_error"
    )


def test_callable_issuer_source(pki, statuses):
    hashes = issuer_key_hashes(pki.issuing.der)
    index = dict.fromkeys(hashes.values(), pki.issuing.der)
    responder = OCSPResponder(pki.leaves["ocsp"].signer, pki.leaves["ocsp"].der, index.get)
    for alg in ("sha1", "sm3"):
        _, resp = _ask(responder, statuses, pki, "signer", hash_algorithm=alg)
        assert verify_ocsp_response(resp, issuer_cert=pki.issuing.der, cert=pki.leaves["signer"].der).valid
    foreign = build_ocsp_request(pki.issuing.der, pki.root.der)
    assert (
        verify_ocsp_response(responder.respond(foreign, statuses), issuer_cert=pki.root.der).response_status
        == "unauthorized"
    )


def test_build_request_refuses_wrong_issuer(pki):
    with pytest.raises(OCSPError):
        build_ocsp_request(pki.leaves["signer"].der, pki.root.der)


# ------------------------------------------------------------------------------------------
# OpenSSL


def test_openssl_prints_our_response(responder, statuses, pki, run_openssl, tmp_path):
    for leaf, status in (("signer", "good"), ("code_signer", "revoked")):
        _, resp = _ask(responder, statuses, pki, leaf)
        path = tmp_path / f"{leaf}.ocsp"
        path.write_bytes(resp)
        out = run_openssl("ocsp", "-respin", path, "-resp_text", "-noverify").stdout
        assert "OCSP Response Status: successful" in out and "Basic OCSP Response" in out
        assert f"Cert Status: {status}" in out and "OCSP Nonce" in out
        assert f"{pki.leaves[leaf].cert.serial:X}" in out.replace(":", "")
    assert "keyCompromise" in out


def test_openssl_request_answered(responder, statuses, pki, run_openssl, tmp_path):
    issuer = pki.write("issuing", pki.issuing.der)
    for leaf, status in (("signer", "good"), ("code_signer", "revoked")):
        cert = pki.write(leaf, pki.leaves[leaf].der)
        run_openssl("ocsp", "-issuer", issuer, "-cert", cert, "-reqout", tmp_path / "req.der")
        req = (tmp_path / "req.der").read_bytes()
        cert_id = ocsp.OCSPRequest.load(req)["tbs_request"]["request_list"][0]["req_cert"]
        assert cert_id["hash_algorithm"]["algorithm"].native == "sha1"
        resp = responder.respond(req, statuses)
        v = verify_ocsp_response(
            resp, issuer_cert=pki.issuing.der, cert=pki.leaves[leaf].der, nonce=ocsp_request_nonce(req)
        )
        assert v.valid and v.status == status and _results(v)["ocsp.nonce"] == "passed"


# ------------------------------------------------------------------------------------------
# path validation through OCSP


def test_revocation_checker_in_path_validation(responder, statuses, pki):
    checker = OCSPRevocationChecker(lambda req: responder.respond(req, statuses), issuers=[pki.issuing.der])
    now = datetime.now(UTC)
    revoked = validate_path(
        pki.leaves["code_signer"].der,
        intermediates=[pki.issuing.der],
        anchors=[pki.root.der],
        at=now,
        revocation=checker,
    )
    assert revoked.indication is Indication.FAILED and revoked.sub_indication == SubIndication.REVOKED
    before = validate_path(
        pki.leaves["code_signer"].der,
        intermediates=[pki.issuing.der],
        anchors=[pki.root.der],
        at=REVOKED_AT - timedelta(days=1),
        revocation=checker,
    )
    assert before.check("path[0].revocation").result == "passed"  # revoked only later
    good = validate_path(
        pki.leaves["signer"].der, intermediates=[pki.issuing.der], anchors=[pki.root.der], at=now, revocation=checker
    )
    assert good.passed and good.check("path[0].revocation").result == "passed"
    # the issuing CA itself is not served by this checker: unknown (a warning, not required)
    assert good.check("path[1].revocation").result == "warning"


def test_revocation_checker_never_raises(pki):
    leaf, issuer = pki.leaves["signer"].cert, pki.issuing.cert
    now = datetime.now(UTC)

    def offline(_req):
        raise ConnectionError("no route to host")

    assert OCSPRevocationChecker(offline).check(leaf, issuer, now).status == "unknown"
    assert OCSPRevocationChecker(lambda _req: b"junk").check(leaf, issuer, now).status == "unknown"
    replay = {}

    def replaying(req):  # answers every request with the first response: nonce mismatch
        replay.setdefault(
            "resp",
            OCSPResponder(pki.issuing.signer, pki.issuing.der, [pki.issuing.der]).respond(
                req, lambda i, s: RevocationStatus("good")
            ),
        )
        return replay["resp"]

    checker = OCSPRevocationChecker(replaying)
    assert checker.check(leaf, issuer, now).status == "good"
    second = checker.check(leaf, issuer, now)
    assert second.status == "unknown" and "nonce" in second.source


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


_STATUSES = {"successful", "malformed_request", "internal_error", "unauthorized"}
_fixed: dict[str, bytes] = {}


@FUZZ
@given(st.binary(max_size=400))
def test_fuzz_respond_random_bytes(responder, statuses, pki, data):
    v = verify_ocsp_response(responder.respond(data, statuses), issuer_cert=pki.issuing.der)
    assert v.response_status in _STATUSES


@FUZZ
@given(st.data())
def test_fuzz_respond_mutated_requests(responder, statuses, pki, data):
    if "req" not in _fixed:
        _fixed["req"] = build_ocsp_request(pki.leaves["signer"].der, pki.issuing.der, nonce=b"\x5e" * 16)
    v = verify_ocsp_response(
        responder.respond(_mutate(_fixed["req"], data.draw), statuses), issuer_cert=pki.issuing.der
    )
    assert v.response_status in _STATUSES


@FUZZ
@given(st.data())
def test_fuzz_verify_mutated_responses(responder, statuses, pki, data):
    if "resp" not in _fixed:
        _fixed["resp"] = responder.respond(
            build_ocsp_request(pki.leaves["code_signer"].der, pki.issuing.der, nonce=b"\x5e" * 16), statuses
        )
    mutated = _mutate(_fixed["resp"], data.draw)
    try:
        v = verify_ocsp_response(mutated, issuer_cert=pki.issuing.der, cert=pki.leaves["code_signer"].der)
    except (CAError, hsm.InvalidSignature):
        return
    assert isinstance(v.valid, bool)


@FUZZ
@given(st.binary(max_size=600))
def test_fuzz_verify_random_bytes(pki, data):
    try:
        verify_ocsp_response(data, issuer_cert=pki.issuing.der)
    except (CAError, hsm.InvalidSignature):
        pass
