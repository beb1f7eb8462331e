"""The region OCSP responder over HTTP (RFC 6960): good and revoked answers from the certificate
records, the right signer per CA, unknown / unauthorized / malformedRequest as OCSP statuses,
the GET form, the AIA URL in issued certificates, and OpenSSL reading our responses."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import urllib.parse
from pathlib import Path

import pytest
from asn1crypto import ocsp as asn1_ocsp
from sqlalchemy import select

from ca.certs import parse_certificate
from ca.ocsp_client import build_ocsp_request, ocsp_request_nonce, verify_ocsp_response
from trustsvc import pki
from trustsvc.storage import CertificateRecord

DEPT = "11320000MB0000001G"
OCSP = "application/ocsp-request"


def _cert(service, slug: str) -> tuple[bytes, bytes]:
    """(certificate DER, its issuer's DER)."""
    with service.db.reader() as s:
        row = s.execute(select(CertificateRecord).where(CertificateRecord.slug == slug)).scalar_one()
        return row.der, row.issuer.der


def _der_of(service, slug: str) -> bytes:
    return _cert(service, slug)[0]


def _ask(client, request_der: bytes) -> bytes:
    resp = client.post("/api/v1/ocsp", data=request_der, headers={"Content-Type": OCSP})
    assert resp.status_code == 200 and resp.mimetype == "application/ocsp-response"
    return resp.data


def _status(resp_der: bytes) -> str:
    return asn1_ocsp.OCSPResponse.load(resp_der)["response_status"].native


def test_good_then_revoked_for_a_service_certificate_signed_by_the_delegated_responder(client, service) -> None:
    cert, issuer = _cert(service, "code-signer")
    request = build_ocsp_request(cert, issuer)
    good = verify_ocsp_response(_ask(client, request), issuer_cert=issuer, cert=cert, nonce=ocsp_request_nonce(request))
    assert good.valid, [c for c in good.checks if c.failed]
    assert good.status == "good"
    assert good.responder_cert_der == _der_of(service, "ocsp")  # delegated, issued by the services CA
    assert good.next_update is not None and (good.next_update - good.this_update).total_seconds() == 3600

    pki.revoke_certificate(service, "code-signer", "key_compromise", actor="test")
    request = build_ocsp_request(cert, issuer, hash_algorithm="sm3")
    revoked = verify_ocsp_response(
        _ask(client, request), issuer_cert=issuer, cert=cert, nonce=ocsp_request_nonce(request)
    )
    assert revoked.valid and revoked.status == "revoked" and revoked.reason == "key_compromise"
    assert revoked.revoked_at is not None


def test_department_certificates_are_answered_by_their_ca_itself(client, service) -> None:
    cert, issuer = _cert(service, f"{DEPT}/signer")
    request = build_ocsp_request(cert, issuer, hash_algorithm="sha256")
    result = verify_ocsp_response(
        _ask(client, request), issuer_cert=issuer, cert=cert, nonce=ocsp_request_nonce(request)
    )
    assert result.valid and result.status == "good"
    assert result.responder_cert_der == issuer
    # and the root answers for the department's issuing CA
    ca_cert, root = _cert(service, DEPT)
    answer = verify_ocsp_response(_ask(client, build_ocsp_request(ca_cert, root)), issuer_cert=root, cert=ca_cert)
    assert answer.valid and answer.status == "good" and answer.responder_cert_der == root


def test_unknown_serial_unauthorized_issuer_and_malformed_requests(client, service) -> None:
    cert, issuer = _cert(service, "tsa")
    request = asn1_ocsp.OCSPRequest.load(build_ocsp_request(cert, issuer, nonce=False))
    request["tbs_request"]["request_list"][0]["req_cert"]["serial_number"] = 0x1234
    unknown = verify_ocsp_response(_ask(client, request.dump()), issuer_cert=issuer)
    assert unknown.valid and unknown.status == "unknown" and unknown.serial == 0x1234

    foreign = asn1_ocsp.OCSPRequest.load(build_ocsp_request(cert, issuer, nonce=False))
    foreign["tbs_request"]["request_list"][0]["req_cert"]["issuer_key_hash"] = b"\x01" * 20
    assert _status(_ask(client, foreign.dump())) == "unauthorized"

    mixed = asn1_ocsp.OCSPRequest.load(build_ocsp_request(cert, issuer, nonce=False))
    signer, dept_ca = _cert(service, f"{DEPT}/signer")
    other = asn1_ocsp.OCSPRequest.load(build_ocsp_request(signer, dept_ca, nonce=False))
    both = asn1_ocsp.OCSPRequest(
        {
            "tbs_request": {
                "request_list": [mixed["tbs_request"]["request_list"][0], other["tbs_request"]["request_list"][0]]
            }
        }
    )
    assert _status(_ask(client, both.dump())) == "unauthorized"

    for body in (b"", b"not an ocsp request", b"\x30\x03\x02\x01\x01", b"\x30" * 1000):
        assert _status(_ask(client, body)) == "malformed_request"
    # whatever the content type says, the answer is an OCSP response, never a 4xx/5xx
    resp = client.post("/api/v1/ocsp", data=b"{}", headers={"Content-Type": "application/json"})
    assert resp.status_code == 200 and _status(resp.data) == "malformed_request"


def test_get_form_answers_like_post(client, service) -> None:
    cert, issuer = _cert(service, "trust-list-signer")
    for _attempt in range(40):  # find a request whose base64 holds "/" and "+" (URL-encoding matters)
        request = build_ocsp_request(cert, issuer)
        encoded = base64.b64encode(request).decode()
        if "/" in encoded and "+" in encoded:
            break
    resp = client.get("/api/v1/ocsp/" + urllib.parse.quote(encoded, safe=""))
    assert resp.status_code == 200 and resp.mimetype == "application/ocsp-response"
    assert resp.cache_control.max_age and resp.cache_control.max_age > 0
    result = verify_ocsp_response(resp.data, issuer_cert=issuer, cert=cert, nonce=ocsp_request_nonce(request))
    assert result.valid and result.status == "good"
    raw = client.get("/api/v1/ocsp/" + encoded)  # not URL-encoded at all: slashes in the path
    assert raw.status_code == 200 and verify_ocsp_response(raw.data, issuer_cert=issuer, cert=cert).status == "good"
    assert _status(client.get("/api/v1/ocsp/%%%not-base64").data) == "malformed_request"


def test_issued_certificates_point_at_the_ocsp_responder(service) -> None:
    for slug in (f"{DEPT}/seal-maker", "code-signer", DEPT):
        leaf = parse_certificate(_der_of(service, slug))
        assert leaf.ocsp_urls == (f"{service.config.server.public_url}/api/v1/ocsp",)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command is not installed")
def test_openssl_parses_our_responses(client, service, tmp_path: Path) -> None:
    cert, issuer = _cert(service, "code-signer")
    pki.revoke_certificate(service, "code-signer", "superseded", actor="test")
    (tmp_path / "resp.der").write_bytes(_ask(client, build_ocsp_request(cert, issuer)))
    out = subprocess.run(
        ["openssl", "ocsp", "-respin", str(tmp_path / "resp.der"), "-resp_text", "-noverify"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "OCSP Response Status: successful (0x0)" in text
    assert "Cert Status: revoked" in text and "Revocation Reason: superseded" in text
    serials = re.findall(r"Serial Number: ([0-9A-F]+)", text)  # OpenSSL pads to whole octets
    assert [int(x, 16) for x in serials] == [parse_certificate(cert).serial]
    (tmp_path / "bad.der").write_bytes(_ask(client, b"junk"))
    bad = subprocess.run(
        ["openssl", "ocsp", "-respin", str(tmp_path / "bad.der"), "-resp_text", "-noverify"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert "malformedrequest" in (bad.stdout + bad.stderr).lower()
