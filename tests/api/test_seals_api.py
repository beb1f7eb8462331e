"""Seals and verification over HTTP: role and department scope, round trips through our own
verifier, single-byte changes never a 500, RFC 3161 over HTTP."""

from __future__ import annotations

import base64
import io
import shutil
import subprocess
from pathlib import Path

import pytest
from api_helpers import bearer

DEPT = "11320000MB0000001G"
DOC = b"%licence body% \xe8\x90\xa5\xe4\xb8\x9a\xe6\x89\xa7\xe7\x85\xa7"


@pytest.fixture
def made(client, keys):
    r = client.post(
        "/api/v1/seals",
        json={"name": "江苏省市场监督管理局", "center_text": "证照专用章"},
        headers=bearer(keys["seal_manager"]),
    )
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def test_seal_roles_and_scope(client, keys) -> None:
    body = {"name": "测试章"}
    assert client.post("/api/v1/seals", json=body).status_code == 401
    assert client.post("/api/v1/seals", json=body, headers=bearer(keys["verifier"])).status_code == 403
    # making seals is seal management: an issuer key (which seals licences) makes none
    r = client.post("/api/v1/seals", json={**body, "department": DEPT}, headers=bearer(keys["issuer"]))
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "role_not_allowed"
    r = client.post(
        "/api/v1/seals", json={**body, "department": "91350100M000100Y43"}, headers=bearer(keys["seal_manager"])
    )
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "other_department"
    r = client.post("/api/v1/seals", json=body, headers=bearer(keys["admin"]))
    assert r.status_code == 422 and r.get_json()["error"]["field"] == "department"
    r = client.post("/api/v1/seals", json={**body, "department": DEPT}, headers=bearer(keys["admin"]))
    assert r.status_code == 201
    for bad in (
        {"name": ""},
        {"name": "x", "type": "one"},
        {"name": "x", "cert_list_type": 3},
        {"name": "x", "valid_from": "yesterday"},
        {"name": "x", "picture": "***"},
        {"name": "x", "picture": base64.b64encode(b"not an image").decode()},
        {"name": "x", "valid_from": "2030-01-01T00:00:00Z", "valid_until": "2029-01-01T00:00:00Z"},
    ):
        r = client.post("/api/v1/seals", json=bad, headers=bearer(keys["seal_manager"]))
        assert r.status_code == 422, (bad, r.get_json())
        assert r.get_json()["error"]["code"]


def test_seal_download_and_round_trip_verification(client, made) -> None:
    meta = client.get(made["links"]["self"]).get_json()
    assert meta["esid"] == made["esid"] and meta["department"] == DEPT
    esl = client.get(made["links"]["esl"])
    assert esl.status_code == 200 and esl.mimetype == "application/octet-stream"
    report = client.post("/api/v1/verify", data=esl.data, content_type="application/octet-stream").get_json()
    assert report["indication"] == "PASSED", report
    assert report["object"]["kind"] == "ses_seal"
    assert client.get("/api/v1/seals/00000000000000").status_code == 404


def test_sign_then_verify_over_http(client, keys, made) -> None:
    r = client.post(
        f"{made['links']['sign']}?property_info=/doc/1",
        data=DOC,
        content_type="application/octet-stream",
        headers=bearer(keys["issuer"]),
    )
    assert r.status_code == 200, r.get_json()
    sig = base64.b64decode(r.get_json()["signature"])
    assert r.get_json()["timestamped"] is True
    report = client.post(
        "/api/v1/verify",
        data={"file": (io.BytesIO(sig), "sig.dat"), "original": (io.BytesIO(DOC), "doc.bin")},
        content_type="multipart/form-data",
    ).get_json()
    assert report["indication"] == "PASSED", report
    wrong = client.post(
        "/api/v1/verify",
        data={"file": (io.BytesIO(sig), "sig.dat"), "original": (io.BytesIO(DOC + b"!"), "doc.bin")},
        content_type="multipart/form-data",
    ).get_json()
    assert wrong["indication"] == "FAILED" and wrong["sub_indication"] == "HASH_FAILURE"
    der = client.post(
        f"{made['links']['sign']}?format=der&timestamp=false",
        data=DOC,
        content_type="application/octet-stream",
        headers=bearer(keys["issuer"]),
    )
    assert der.status_code == 200 and der.data[:1] == b"\x30"
    assert client.post(made["links"]["sign"], data=b"", headers=bearer(keys["issuer"])).status_code == 400
    assert client.post(made["links"]["sign"], data=DOC, headers=bearer(keys["verifier"])).status_code == 403


def test_single_byte_changes_are_reports_never_500(client, made) -> None:
    esl = client.get(made["links"]["esl"]).data
    step = max(1, len(esl) // 150)
    for pos in range(0, len(esl), step):
        mutated = bytearray(esl)
        mutated[pos] ^= 0x41
        r = client.post("/api/v1/verify", data=bytes(mutated), content_type="application/octet-stream")
        assert r.status_code == 200, pos
        assert r.get_json()["indication"] in ("FAILED", "INDETERMINATE"), pos
    for junk in (b"\x30", b"\x30\x80", b"garbage" * 10, esl[: len(esl) // 2]):
        r = client.post("/api/v1/verify", data=junk, content_type="application/octet-stream")
        assert r.status_code == 200 and r.get_json()["indication"] == "FAILED"
    assert client.post("/api/v1/verify", data=b"").status_code == 400
    assert client.post("/api/v1/verify", json={"nope": 1}).status_code == 400


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")
def test_rfc3161_over_http_answers_an_openssl_query(client, tmp_path: Path) -> None:
    data = tmp_path / "data.txt"
    data.write_bytes(DOC)
    query = subprocess.run(
        ["openssl", "ts", "-query", "-data", str(data), "-sm3", "-cert"], capture_output=True, check=True
    ).stdout
    r = client.post("/api/v1/tsa", data=query, content_type="application/timestamp-query")
    assert r.status_code == 200 and r.mimetype == "application/timestamp-reply"
    (tmp_path / "reply.der").write_bytes(r.data)
    text = subprocess.run(
        ["openssl", "ts", "-reply", "-in", str(tmp_path / "reply.der"), "-text"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Granted" in text and "2.25.302536209990631905168652741637771452772.2.1" in text
    assert client.post("/api/v1/tsa", data=query, content_type="text/plain").status_code == 400
