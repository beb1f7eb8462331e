"""The public /verify page through Flask's test client: paste, photo upload, tampered and
expired codes, the verdict in Chinese and English; and nothing is written."""

from __future__ import annotations

import datetime as dt
import io

from code_helpers import bearer
from sqlalchemy import select

from trustsvc.codes.format import CodeClaims, sign_code
from trustsvc.storage.models import AuditEventRecord, CertificateRecord, utcnow


def expired_dynamic_code(service, licence: str) -> tuple[str, str]:
    """A dynamic code signed by the region's code signer that expired a minute ago."""
    with service.db.reader() as s:
        cert = s.execute(select(CertificateRecord).where(CertificateRecord.slug == "code-signer")).scalar_one()
    now = int(utcnow().timestamp())
    claims = CodeClaims(iss="320000", sub=licence, typ="dynamic", iat=now - 180, exp=now - 60, nonce=b"\x07" * 16)
    text = sign_code(claims, signer=service.keystore.signer(cert.key_ref), cert_der=cert.der)
    return text, dt.datetime.fromtimestamp(now - 60, dt.UTC).isoformat().replace("+00:00", "Z")


def test_form_and_csp(client):
    resp = client.get("/verify")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert 'name="photo"' in html and 'name="code"' in html and 'id="scan"' in html
    assert '<script src="/static/js/verify.js" defer></script>' in html and "<script>" not in html
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self' 'wasm-unsafe-eval';" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    script = client.get("/static/js/verify.js").get_data(as_text=True)
    assert "BarcodeDetector" in script and "zxing-reader.js" in script
    wasm = client.get("/static/vendor/zxing-wasm/zxing_reader.wasm")
    assert wasm.status_code == 200 and wasm.mimetype == "application/wasm" and wasm.data[:4] == b"\0asm"


def test_pasted_codes_show_the_verdict_in_chinese_and_english(client, keys, licence, service):
    code = client.get(f"/api/v1/licences/{licence}/code", headers=bearer(keys["issuer"])).get_data(as_text=True)
    ok = client.post("/verify", data={"code": code}).get_data(as_text=True)
    assert 'data-indication="PASSED"' in ok and "有效" in ok and "Valid" in ok
    assert "江苏******公司" in ok and "江苏某某科技有限公司" not in ok  # masked as on the public page
    tampered = code[:60] + ("Z" if code[60] != "Z" else "Y") + code[61:]
    bad = client.post("/verify", data={"code": tampered}).get_data(as_text=True)
    assert 'data-indication="FAILED"' in bad and "无效" in bad and "Invalid" in bad
    text, expiry = expired_dynamic_code(service, licence)
    old = client.post("/verify", data={"code": text}).get_data(as_text=True)
    assert 'data-indication="FAILED"' in old and "服务码已过期" in old and "has expired" in old and expiry in old
    with service.db.reader() as s:
        assert not s.execute(select(AuditEventRecord).where(AuditEventRecord.action == "code.verify")).first()


def test_photo_upload(client, keys, licence):
    png = client.get(f"/api/v1/licences/{licence}/code?format=png", headers=bearer(keys["issuer"])).data
    page = client.post(
        "/verify", data={"photo": (io.BytesIO(png), "code.png"), "code": ""}, content_type="multipart/form-data"
    ).get_data(as_text=True)
    assert 'data-indication="PASSED"' in page
    empty = client.post("/verify", data={"code": ""})
    assert empty.status_code == 422 and "nothing_to_verify" in empty.get_data(as_text=True)
