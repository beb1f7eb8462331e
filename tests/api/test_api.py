"""The HTTP API: health, metrics, OpenAPI, PKI downloads, auth and the JSON error contract."""

from __future__ import annotations

import re

import pytest
from api_helpers import bearer
from asn1crypto import crl as asn1_crl
from asn1crypto import pem

from ca import parse_certificate
from trustsvc.storage import CertificateRecord

DEPT = "11320000MB0000001G"


def test_healthz_reports_provider_self_test_and_database(client, service) -> None:
    resp = client.get("/healthz")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["status"] == "ok" and body["region"] == "320000"
    assert body["provider"]["name"] == "openssl" and "OpenSSL 3" in body["provider"]["version"]
    assert body["self_test"]["passed"] is True and body["self_test"]["checks"]
    assert body["database"] == {"backend": service.db.dialect, "ok": True, "schema_current": True}


def test_metrics_are_prometheus_text(client) -> None:
    client.get("/healthz")
    resp = client.get("/metrics")
    assert resp.status_code == 200 and resp.mimetype == "text/plain"
    text = resp.get_data(as_text=True)
    assert "trustsvc_self_test_passed 1.0" in text
    assert 'trustsvc_http_requests_total{endpoint="/healthz",method="GET",status="200"}' in text


def test_openapi_describes_exactly_the_served_api(app, client) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    described = {(path, method.upper()) for path, ops in spec["paths"].items() for method in ops}
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1") or rule.rule in ("/healthz", "/metrics"):
            path = re.sub(r"<(?:[a-z]+:)?([A-Za-z_]\w*)>", r"{\1}", rule.rule)  # <path:x> -> {x}
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                served.add((path, method))
    assert served == described


def test_ca_certificates_download_in_der_and_pem(client) -> None:
    listing = client.get("/api/v1/ca").get_json()
    assert [c["slug"] for c in listing] == ["root", "services", DEPT]
    der = client.get("/api/v1/ca/root")
    assert der.status_code == 200 and der.mimetype == "application/pkix-cert"
    cert = parse_certificate(der.data)
    assert cert.sha256 == listing[0]["sha256"]
    pem_resp = client.get(f"/api/v1/ca/{DEPT}?format=pem")
    assert pem.detect(pem_resp.data)
    assert client.get("/api/v1/ca/root?format=xml").status_code == 422
    missing = client.get("/api/v1/ca/nope")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "ca_not_found"


def test_crl_download(client) -> None:
    resp = client.get(f"/api/v1/crl/{DEPT}")
    assert resp.status_code == 200 and resp.mimetype == "application/pkix-crl"
    assert "max-age" in resp.headers["Cache-Control"]
    crl = asn1_crl.CertificateList.load(resp.data)
    assert crl["tbs_cert_list"]["issuer"].native["common_name"] == "江苏省市场监督管理局颁发CA"


def test_mutating_endpoints_need_a_key(client) -> None:
    resp = client.post("/api/v1/departments", json={"uscc": "91350100M000100Y43", "name": "x"})
    assert resp.status_code == 401
    assert resp.get_json()["error"]["code"] == "missing_api_key"
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    for header in ({"Authorization": "Basic abc"}, bearer("tsk_123_456"), bearer("garbage")):
        r = client.post("/api/v1/departments", json={"uscc": "91350100M000100Y43", "name": "x"}, headers=header)
        assert r.status_code == 401, header


@pytest.mark.parametrize("role, status", [("admin", 201), ("issuer", 403), ("verifier", 403), ("peer", 403)])
def test_only_admin_adds_departments(client, keys, role: str, status: int) -> None:
    resp = client.post(
        "/api/v1/departments", json={"uscc": "91350100M000100Y43", "name": "福州测试局"}, headers=bearer(keys[role])
    )
    assert resp.status_code == status, resp.get_json()
    if status == 403:
        assert resp.get_json()["error"]["code"] == "role_not_allowed"


def test_department_input_errors(client, keys) -> None:
    h = bearer(keys["admin"])
    r = client.post("/api/v1/departments", data="not json", headers=h, content_type="application/json")
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "malformed_json"
    assert "line 1, column 1 (character 0)" in r.get_json()["error"]["message"]
    r = client.post("/api/v1/departments", json=["a"], headers=h)
    assert r.status_code == 400
    r = client.post("/api/v1/departments", json={"uscc": "91350100M000100Y4X", "name": "x"}, headers=h)
    assert r.status_code == 422 and r.get_json()["error"] == {
        "code": "invalid_uscc",
        "message": r.get_json()["error"]["message"],
        "field": "uscc",
    }
    r = client.post("/api/v1/departments", json={"uscc": DEPT, "name": "别的名字"}, headers=h)
    assert r.status_code == 409
    r = client.post("/api/v1/departments", json={"uscc": DEPT, "name": "江苏省市场监督管理局"}, headers=h)
    assert r.status_code == 200 and r.get_json()["created"] is False


def test_api_key_lifecycle_over_http(client, keys) -> None:
    h = bearer(keys["admin"])
    r = client.post("/api/v1/apikeys", json={"role": "verifier", "label": "hotel desk"}, headers=h)
    assert r.status_code == 201
    token, key_id = r.get_json()["api_key"], r.get_json()["key_id"]
    me = client.get("/api/v1/whoami", headers=bearer(token))
    assert me.status_code == 200 and me.get_json()["role"] == "verifier"
    assert client.delete(f"/api/v1/apikeys/{key_id}", headers=bearer(keys["verifier"])).status_code == 403
    assert client.delete(f"/api/v1/apikeys/{key_id}", headers=h).status_code == 204
    gone = client.get("/api/v1/whoami", headers=bearer(token))
    assert gone.status_code == 401 and gone.get_json()["error"]["code"] == "revoked_api_key"
    r = client.post("/api/v1/apikeys", json={"role": "issuer"}, headers=h)
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "department_required"


def test_unknown_routes_and_methods_are_json_errors(client) -> None:
    r = client.get("/api/v1/nothing-here")
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found"
    r = client.put("/api/v1/ca/root")
    assert r.status_code == 405 and r.get_json()["error"]["code"] == "method_not_allowed"


def test_request_size_limit(app, client, keys) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 1024
    r = client.post(
        "/api/v1/departments",
        data=b"{" + b" " * 4096 + b"}",
        headers=bearer(keys["admin"]),
        content_type="application/json",
    )
    assert r.status_code == 413 and r.get_json()["error"]["code"] == "payload_too_large"


def test_index_page_leads_to_the_sections_and_developers_lists_the_cas(client) -> None:
    r = client.get("/")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "江苏省" in html and 'href="/verify"' in html and 'href="/console"' in html and 'href="/developers"' in html
    r = client.get("/developers")
    assert r.status_code == 200 and "/api/v1/crl/root" in r.get_data(as_text=True)


def test_no_secret_in_any_response(client, keys, service) -> None:
    seen = b""
    for path in (
        "/",
        "/healthz",
        "/metrics",
        "/api/v1/openapi.json",
        "/api/v1/ca",
        "/api/v1/ca/root",
        f"/api/v1/crl/{DEPT}",
    ):
        seen += client.get(path).data
    seen += client.get("/api/v1/whoami", headers=bearer(keys["issuer"])).data
    with service.db.reader() as s:
        assert s.query(CertificateRecord).count() > 0
    for token in keys.values():
        assert token.encode() not in seen
        assert token.split("_", 2)[2].encode() not in seen
    assert b"test-pin-1234" not in seen
