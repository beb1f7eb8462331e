"""Service codes over HTTP: static code text/PNG/SVG, dynamic codes, online verification by a
verifier key (single use, purpose in the audit log), anonymous use, and the photo upload path."""

from __future__ import annotations

import io
import json

import pytest
import zxingcpp
from code_helpers import COMPANY, DEPT, bearer
from PIL import Image
from sqlalchemy import select

from trustsvc.licences.catalogue import BUSINESS_LICENCE
from trustsvc.licences.identifier import LicenceIdentifier
from trustsvc.storage.models import AuditEventRecord


def _static(client, keys, licence, fmt: str = "text"):
    return client.get(f"/api/v1/licences/{licence}/code?format={fmt}", headers=bearer(keys["issuer"]))


def test_static_code_as_text_png_and_svg(client, keys, licence):
    text = _static(client, keys, licence)
    assert text.status_code == 200 and text.mimetype == "text/plain"
    code = text.get_data(as_text=True)
    assert code.startswith("TS1:")
    png = _static(client, keys, licence, "png")
    assert png.mimetype == "image/png"
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.data)))
    assert [b.text for b in decoded] == [code] and decoded[0].format == zxingcpp.BarcodeFormat.QRCode
    assert decoded[0].ec_level == "Q"
    svg = _static(client, keys, licence, "svg")
    assert svg.mimetype == "image/svg+xml" and b"<svg" in svg.data
    assert client.get(f"/api/v1/licences/{licence}/code", headers=bearer(keys["admin"])).get_data(as_text=True) == code
    bad = _static(client, keys, licence, "gif")
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "invalid_format"


@pytest.mark.parametrize("role, status", [("verifier", 403), ("peer", 403), (None, 401)])
def test_only_issuers_and_admins_get_codes(client, keys, licence, role, status):
    headers = bearer(keys[role]) if role else {}
    assert client.get(f"/api/v1/licences/{licence}/code", headers=headers).status_code == status
    assert client.post(f"/api/v1/licences/{licence}/codes", headers=headers).status_code == status


def test_dynamic_code_endpoint(client, keys, licence):
    resp = client.post(f"/api/v1/licences/{licence}/codes", headers=bearer(keys["issuer"]))
    assert resp.status_code == 201 and resp.headers["Cache-Control"] == "no-store"
    body = resp.get_json()
    assert body["code"].startswith("TS1:") and body["type"] == "dynamic" and body["expires_at"].endswith("Z")
    short = client.post(f"/api/v1/licences/{licence}/codes", headers=bearer(keys["issuer"]), json={"ttl": 60})
    assert short.status_code == 201
    for payload, status, code in (
        ({"ttl": 5}, 422, "invalid_ttl"),
        ({"ttl": "60"}, 422, "invalid_ttl"),
        ({"other": 1}, 400, "malformed_request"),
    ):
        bad = client.post(f"/api/v1/licences/{licence}/codes", headers=bearer(keys["issuer"]), json=payload)
        assert (bad.status_code, bad.get_json()["error"]["code"]) == (status, code)
    nobody = LicenceIdentifier(BUSINESS_LICENCE.code, DEPT, "20269999999", 1).text
    missing = client.post(f"/api/v1/licences/{nobody}/codes", headers=bearer(keys["admin"]))
    assert (missing.status_code, missing.get_json()["error"]["code"]) == (404, "licence_not_found")


def test_verifier_uses_a_dynamic_code_once_and_the_audit_log_says_who_and_why(client, keys, licence, service):
    code = client.post(f"/api/v1/licences/{licence}/codes", headers=bearer(keys["issuer"])).get_json()["code"]
    first = client.post("/api/v1/verify", json={"code": code, "purpose": "银行开户"}, headers=bearer(keys["verifier"]))
    assert first.status_code == 200 and first.get_json()["indication"] == "PASSED"
    report = first.get_json()
    assert report["object"]["kind"] == "code" and report["object"]["display"]["hid"] == "91320100********0C"
    assert COMPANY not in json.dumps(report, ensure_ascii=False)  # only the masked holder id goes out
    second = client.post("/api/v1/verify", json={"code": code, "purpose": "银行开户"}, headers=bearer(keys["verifier"]))
    assert (second.get_json()["indication"], second.get_json()["sub_indication"]) == ("FAILED", "ALREADY_USED")
    with service.db.reader() as s:
        events = s.execute(select(AuditEventRecord).where(AuditEventRecord.action == "code.verify")).scalars().all()
    verifier_id = keys["verifier"].split("_")[1]
    assert [e.actor for e in events] == [f"apikey:{verifier_id}"] * 2
    assert all('"purpose":"银行开户"' in e.details for e in events)


def test_keyed_code_verification_needs_a_purpose_and_a_good_key(client, keys, licence):
    code = _static(client, keys, licence).get_data(as_text=True)
    resp = client.post("/api/v1/verify", json={"code": code}, headers=bearer(keys["verifier"]))
    assert resp.status_code == 422 and resp.get_json()["error"]["field"] == "purpose"
    bad = client.post("/api/v1/verify", json={"code": code, "purpose": "x"}, headers=bearer("tsk_nope_nope"))
    assert bad.status_code == 401


def test_anonymous_code_verification_writes_nothing(client, keys, licence, service):
    code = client.post(f"/api/v1/licences/{licence}/codes", headers=bearer(keys["issuer"])).get_json()["code"]
    for _ in range(2):
        resp = client.post("/api/v1/verify", json={"code": code})
        assert resp.status_code == 200 and resp.get_json()["indication"] == "PASSED"
    raw = client.post("/api/v1/verify", data=code.encode(), content_type="text/plain")
    assert raw.get_json()["indication"] == "PASSED"
    with service.db.reader() as s:
        assert not s.execute(select(AuditEventRecord).where(AuditEventRecord.action == "code.verify")).first()
    used = client.post(
        "/api/v1/verify?purpose=%E6%9F%A5%E9%AA%8C",
        data=code.encode(),
        content_type="text/plain",
        headers=bearer(keys["verifier"]),
    )
    assert used.get_json()["indication"] == "PASSED"
    assert client.post("/api/v1/verify", json={"code": code}).get_json()["sub_indication"] == "ALREADY_USED"


def test_tampered_code_is_a_failed_report_not_an_error(client, keys, licence):
    code = _static(client, keys, licence).get_data(as_text=True)
    for i in range(4, len(code), 37):
        tampered = code[:i] + ("B" if code[i] != "B" else "C") + code[i + 1 :]
        resp = client.post("/api/v1/verify", json={"code": tampered})
        assert resp.status_code == 200 and resp.get_json()["indication"] == "FAILED"
    garbage = client.post("/api/v1/verify", json={"code": "TS1:!!!"})
    assert garbage.status_code == 200 and garbage.get_json()["sub_indication"] == "FORMAT_FAILURE"


def _photographed(png: bytes) -> bytes:
    """A rendered code as a phone might see it: smaller, slightly turned, on grey, JPEG."""
    img = Image.open(io.BytesIO(png)).convert("RGB")
    img = img.resize((int(img.width * 0.72), int(img.height * 0.72)), Image.Resampling.BICUBIC)
    img = img.rotate(4.5, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=(200, 200, 200))
    canvas = Image.new("RGB", (img.width + 120, img.height + 90), (170, 165, 160))
    canvas.paste(img, (70, 40))
    out = io.BytesIO()
    canvas.save(out, format="JPEG", quality=55)
    return out.getvalue()


def test_photographed_png_decodes_and_verifies_through_the_upload_path(client, keys, licence):
    png = _static(client, keys, licence, "png").data
    photo = _photographed(png)
    resp = client.post(
        "/api/v1/verify", data={"image": (io.BytesIO(photo), "photo.jpg")}, content_type="multipart/form-data"
    )
    assert resp.status_code == 200, resp.get_json()
    report = resp.get_json()
    assert report["indication"] == "PASSED" and report["object"]["licence"] == licence


def test_upload_without_a_code_is_a_clean_4xx(client):
    blank = io.BytesIO()
    Image.new("L", (200, 200), 255).save(blank, format="PNG")
    resp = client.post(
        "/api/v1/verify", data={"image": (io.BytesIO(blank.getvalue()), "x.png")}, content_type="multipart/form-data"
    )
    assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "no_code_found"
    junk = client.post(
        "/api/v1/verify", data={"image": (io.BytesIO(b"not a picture"), "x.png")}, content_type="multipart/form-data"
    )
    assert junk.status_code == 422 and junk.get_json()["error"]["code"] == "invalid_image"


def test_a_qr_picture_sent_as_file_is_read_and_verified_as_its_code(client, keys, licence):
    """Photos of printed codes arrive as `file` too (a form with one file input, curl -F file=@...)."""
    png = _static(client, keys, licence, "png").data
    for picture, name in ((png, "code.png"), (_photographed(png), "photo.jpg")):
        resp = client.post(
            "/api/v1/verify", data={"file": (io.BytesIO(picture), name)}, content_type="multipart/form-data"
        )
        assert resp.status_code == 200, resp.get_json()
        report = resp.get_json()
        assert report["indication"] == "PASSED", report
        assert report["object"]["kind"] == "code" and report["object"]["licence"] == licence
        assert report["object"]["read_from"] == "picture"
    # a keyed verification of a code states its purpose, whether the code came as text or picture
    keyed = client.post(
        "/api/v1/verify",
        data={"file": (io.BytesIO(png), "code.png")},
        content_type="multipart/form-data",
        headers=bearer(keys["verifier"]),
    )
    assert keyed.status_code == 422 and keyed.get_json()["error"]["field"] == "purpose"


_EVERY_KIND = ("licence PDF", "OFD", ".esl seal", "SES_Signature", "CMS", "certificate", "TS1:", "picture")


def test_an_unrecognised_file_is_told_every_kind_verify_accepts(client):
    resp = client.post(
        "/api/v1/verify",
        data={"file": (io.BytesIO(b"\x13\x37 random bytes" * 20), "x.bin")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 200
    report = resp.get_json()
    assert (report["indication"], report["sub_indication"]) == ("FAILED", "FORMAT_FAILURE")
    for kind in _EVERY_KIND:
        assert kind in report["message"], (kind, report["message"])


def test_a_picture_without_a_code_sent_as_file_says_so_and_what_else_is_accepted(client):
    blank = io.BytesIO()
    Image.new("L", (200, 200), 255).save(blank, format="PNG")
    resp = client.post(
        "/api/v1/verify", data={"file": (io.BytesIO(blank.getvalue()), "x.png")}, content_type="multipart/form-data"
    )
    assert resp.status_code == 200
    report = resp.get_json()
    assert (report["indication"], report["sub_indication"]) == ("FAILED", "FORMAT_FAILURE")
    assert report["object"]["kind"] == "picture"
    assert report["message"].startswith("no QR code was found in the picture")
    for kind in _EVERY_KIND:
        assert kind in report["message"], (kind, report["message"])


def test_broken_json_to_verify_says_where_it_broke(client):
    resp = client.post("/api/v1/verify", data='{"code": "TS1:abc",}', content_type="application/json")
    assert resp.status_code == 400
    err = resp.get_json()["error"]
    assert err["code"] == "malformed_json" and "line 1, column 20 (character 19)" in err["message"]
