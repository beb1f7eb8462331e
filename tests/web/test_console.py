"""The issuer console and the public licence page through Flask's test client."""

from __future__ import annotations

import html
import re

import pytest
from console_helpers import COMPANY, PERSON_ID, business_form, csrf, login
from sqlalchemy import select

from api import create_app
from trustsvc.apikeys import SystemActor, revoke_api_key
from trustsvc.licences.catalogue import BUSINESS_LICENCE, FOOD_BUSINESS_LICENCE
from trustsvc.licences.identifier import LicenceIdentifier
from trustsvc.licences.service import change_licence
from trustsvc.storage.models import AuditEventRecord

DEPT = "11320000MB0000001G"


def _text(resp) -> str:
    return html.unescape(resp.get_data(as_text=True))


def _issue(console_client, **overrides: str) -> str:
    resp = console_client.post(
        "/console/licences/new", data=business_form(csrf(console_client, "/console/licences/new"), **overrides)
    )
    assert resp.status_code == 303, _text(resp)[-2000:]
    match = re.fullmatch(r"/console/licences/(1\.2\.156\.3005\.2\.[0-9A-Z.]+)", resp.headers["Location"])
    assert match
    return match.group(1)


# -- sign in ------------------------------------------------------------------------------------


def test_console_is_off_without_a_secret(service, seal, monkeypatch) -> None:
    monkeypatch.delenv("TRUSTSVC_SECRET_KEY", raising=False)
    client = create_app(service=service).test_client()
    resp = client.get("/console/login")
    assert resp.status_code == 503 and "console_not_configured" in _text(resp)
    assert client.get("/healthz").status_code in (200, 503)  # the rest of the app is unaffected
    assert "api/v1" in client.get("/api/v1/openapi.json").get_data(as_text=True)


@pytest.mark.parametrize(
    "path", ["/console", "/console/licences", "/console/licences/new", "/console/licences/1.2.156.3005.2.X.Y.Z.001.0"]
)
def test_without_a_session_pages_redirect_to_log_in(console_client, path: str) -> None:
    resp = console_client.get(path)
    assert resp.status_code == 303 and resp.headers["Location"] == "/console/login"


def test_bad_keys_are_refused_on_the_log_in_page(console_client, keys) -> None:
    resp = login(console_client, keys["issuer"][:-4] + "abcd")
    assert resp.status_code == 401 and 'class="error-code">invalid_api_key<' in _text(resp)
    resp = login(console_client, "nonsense")
    assert resp.status_code == 401 and "invalid_api_key" in _text(resp)
    resp = login(console_client, keys["verifier"])
    assert resp.status_code == 403 and "role_not_allowed" in _text(resp)
    assert console_client.get("/console/licences").status_code == 303  # still signed out


def test_posts_without_the_csrf_token_are_refused(console_client, keys) -> None:
    resp = console_client.post("/console/login", data={"api_key": keys["issuer"]})
    assert resp.status_code == 400 and "csrf_failed" in _text(resp)
    csrf(console_client)
    resp = console_client.post("/console/login", data={"api_key": keys["issuer"], "csrf_token": "forged"})
    assert resp.status_code == 400 and "csrf_failed" in _text(resp)
    assert login(console_client, keys["issuer"]).status_code == 303
    ident = _issue(console_client)
    resp = console_client.post(f"/console/licences/{ident}/revoke", data={"reason": "x"})
    assert resp.status_code == 400 and "csrf_failed" in _text(resp)
    resp = console_client.post("/console/licences/new", data={**business_form(""), "csrf_token": ""})
    assert resp.status_code == 400


def test_session_cookie_holds_the_key_id_not_the_key(console_app, console_client, keys) -> None:
    resp = login(console_client, keys["issuer"])
    assert resp.status_code == 303 and resp.headers["Location"] in ("/console", "/console/")  # the dashboard
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # plain http in this test
    value = cookie.split(";", 1)[0].split("=", 1)[1]
    data = console_app.session_interface.get_signing_serializer(console_app).loads(value)
    key_id, secret = keys["issuer"].split("_", 2)[1:]
    assert (
        data["key_id"] == key_id
        and secret not in repr(data)
        and set(data) <= {"key_id", "csrf", "since", "_permanent", "_flashes"}
    )
    https = console_app.test_client()
    resp = https.post(
        "/console/login",
        base_url="https://localhost",
        data={"csrf_token": csrf_https(https), "api_key": keys["issuer"]},
    )
    assert resp.status_code == 303 and "Secure" in resp.headers["Set-Cookie"]


def csrf_https(client) -> str:
    page = client.get("/console/login", base_url="https://localhost").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_log_out_and_key_revocation_end_the_session(service, console_client, keys) -> None:
    login(console_client, keys["issuer"])
    resp = console_client.post("/console/logout", data={"csrf_token": csrf(console_client, "/console/licences")})
    assert resp.status_code == 303 and resp.headers["Location"] == "/console/login"
    assert console_client.get("/console/licences").status_code == 303
    login(console_client, keys["issuer"])
    assert console_client.get("/console/licences").status_code == 200
    with service.db.transaction() as s:
        revoke_api_key(s, keys["issuer"].split("_")[1], actor="test")
    resp = console_client.get("/console/licences")
    assert resp.status_code == 303 and resp.headers["Location"] == "/console/login"
    assert "revoked_api_key" in _text(console_client.get("/console/login"))
    with service.db.reader() as s:
        actions = list(
            s.execute(
                select(AuditEventRecord.action)
                .where(AuditEventRecord.action.like("console.%"))
                .order_by(AuditEventRecord.seq)
            ).scalars()
        )
    assert actions == ["console.login", "console.logout", "console.login"]


# -- issue, list, view ----------------------------------------------------------------------------


def test_issue_form_follows_the_field_schema(console_client, keys) -> None:
    login(console_client, keys["issuer"])
    page = _text(console_client.get("/console/licences/new"))
    for spec in BUSINESS_LICENCE.fields:
        assert f'id="fields.{spec.name}"' in page and spec.label in page
    assert '<select id="fields.entity_type" name="fields.entity_type"' in page
    assert all(f'<option value="{v}"' in page for v in BUSINESS_LICENCE.by_name["entity_type"].enum_values)
    assert '<input type="date" id="fields.established_on"' in page
    assert "注册资本 <span" in page  # the optional field says so
    food = _text(console_client.get(f"/console/licences/new?type={FOOD_BUSINESS_LICENCE.code}"))
    assert 'id="fields.permit_number"' in food and 'id="fields.uscc"' not in food


def test_issue_through_the_form_then_list_and_view(console_client, keys) -> None:
    login(console_client, keys["issuer"])
    ident = _issue(console_client)
    view = _text(console_client.get(f"/console/licences/{ident}"))
    assert "已签发 issued " + ident in view
    assert "张三丰" in view and PERSON_ID in view and "南京张三丰小吃店" in view and "个体工商户" in view
    assert 'data-status="active"' in view and "licence.issue" in view
    assert f'href="/licences/{ident}"' in view and f'href="/console/licences/{ident}/file"' in view
    listing = _text(console_client.get("/console/licences"))
    assert f'data-id="{ident}"' in listing and "张三丰" in listing
    filtered = console_client.get("/console/licences?status=active&q=张三")
    assert filtered.status_code == 200 and f'data-id="{ident}"' in _text(filtered)
    assert '<option value="active" selected>' in _text(filtered)
    assert f'data-id="{ident}"' not in _text(console_client.get("/console/licences?status=revoked"))
    bad = console_client.get("/console/licences?status=nope")
    assert bad.status_code == 422 and "invalid_status" in _text(bad)


def test_the_licence_file_downloads_through_the_session(console_client, keys) -> None:
    login(console_client, keys["issuer"])
    ident = _issue(console_client)
    resp = console_client.get(f"/console/licences/{ident}/file")
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    assert resp.data.startswith(b"%PDF-") and "attachment" in resp.headers["Content-Disposition"]
    assert console_client.application.test_client().get(f"/console/licences/{ident}/file").status_code == 303
    view = _text(console_client.get(f"/console/licences/{ident}"))
    assert f'href="/console/licences/{ident}/file?format=ofd"' in view
    ofd = console_client.get(f"/console/licences/{ident}/file?format=ofd")
    assert ofd.status_code == 200 and ofd.mimetype == "application/ofd" and ofd.data.startswith(b"PK")
    assert f'filename="licence-{ident}.ofd"' in ofd.headers["Content-Disposition"]


def test_form_errors_are_shown_next_to_their_fields(console_client, keys) -> None:
    login(console_client, keys["issuer"])
    token = csrf(console_client, "/console/licences/new")
    resp = console_client.post(
        "/console/licences/new",
        data=business_form(
            token,
            **{
                "holder.name": " ",
                "holder.id": PERSON_ID[:-1] + ("0" if PERSON_ID[-1] != "0" else "1"),
                "fields.legal_representative": "",
                "fields.uscc": "not-a-code",
                "valid_from": "2026-05-01",
                "valid_until": "2026-01-01",
            },
        ),
    )
    assert resp.status_code == 422
    page = _text(resp)
    expected = {
        "holder.name": "invalid_field",
        "holder.id": "invalid_holder_id",
        "fields.legal_representative": "missing_field",
        "fields.uscc": "field_pattern_mismatch",
        "valid_until": "invalid_validity",
    }
    for field, code in expected.items():
        block = re.search(
            rf'<p class="field-error" id="err-{re.escape(field)}-1"><code class="error-code">'
            rf"([a-z_]+)</code>",
            page,
        )
        assert block and block.group(1) == code, field
        assert re.search(rf'id="{re.escape(field)}"[^>]*aria-invalid="true"', page), field
    assert 'value="南京张三丰小吃店"' in page and 'value="not-a-code"' in page  # what was typed stays
    assert console_client.get("/console/licences").get_data(as_text=True).count("data-id=") == 0
    resp = console_client.post("/console/licences/new", data=business_form(token, valid_from="2026-13-01"))
    assert resp.status_code == 422 and 'id="err-valid_from-1"><code class="error-code">invalid_date<' in _text(resp)


def test_a_resubmitted_form_issues_once(console_client, keys) -> None:
    login(console_client, keys["issuer"])
    form = business_form(csrf(console_client, "/console/licences/new"), idempotency_key="console-abc123")
    first = console_client.post("/console/licences/new", data=form)
    second = console_client.post("/console/licences/new", data=form)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert _text(console_client.get("/console/licences")).count("data-id=") == 1


def test_admin_chooses_the_department(console_client, keys) -> None:
    login(console_client, keys["admin"])
    page = _text(console_client.get("/console/licences/new"))
    assert '<select id="department" name="department"' in page and DEPT in page
    ident = _issue(console_client, department=DEPT)
    assert f".{DEPT}." in ident


# -- lifecycle ------------------------------------------------------------------------------------


def test_suspend_reinstate_and_revoke_through_the_forms(console_client, keys) -> None:
    login(console_client, keys["issuer"])
    ident = _issue(console_client)
    token = csrf(console_client, f"/console/licences/{ident}")
    resp = console_client.post(f"/console/licences/{ident}/reinstate", data={"csrf_token": token})
    assert resp.status_code == 409 and "invalid_transition" in _text(resp)  # only a suspended one
    assert console_client.post(f"/console/licences/{ident}/suspend", data={"csrf_token": token}).status_code == 303
    assert 'data-status="suspended"' in _text(console_client.get(f"/console/licences/{ident}"))
    assert console_client.post(f"/console/licences/{ident}/reinstate", data={"csrf_token": token}).status_code == 303
    resp = console_client.post(f"/console/licences/{ident}/revoke", data={"csrf_token": token, "reason": "  "})
    assert resp.status_code == 422 and 'id="revoke-error"' in _text(resp) and "missing_field" in _text(resp)
    resp = console_client.post(
        f"/console/licences/{ident}/revoke", data={"csrf_token": token, "reason": "营业执照吊销"}
    )
    assert resp.status_code == 303
    view = _text(console_client.get(f"/console/licences/{ident}"))
    assert 'data-status="revoked"' in view and "营业执照吊销" in view and 'id="revoke-form"' not in view
    assert re.findall(r"<code>(licence\.[a-z]+)</code>", view) == [
        "licence.issue",
        "licence.file",  # issued from the console, it gets its sealed PDF at once, as from the API
        "licence.suspend",
        "licence.reinstate",
        "licence.revoke",
    ]
    public = _text(console_client.get(f"/licences/{ident}"))
    assert 'data-status="revoked"' in public
    listing = _text(console_client.get("/console/licences?status=revoked"))
    assert f'data-id="{ident}"' in listing


def test_unknown_and_malformed_identifiers_in_the_console(console_client, keys) -> None:
    login(console_client, keys["issuer"])
    unknown = LicenceIdentifier(BUSINESS_LICENCE.code, DEPT, "20269999999", 1).text
    resp = console_client.get(f"/console/licences/{unknown}")
    assert resp.status_code == 404 and "licence_not_found" in _text(resp)
    resp = console_client.get("/console/licences/not-an-identifier")
    assert resp.status_code == 422 and "invalid_identifier" in _text(resp)
    token = csrf(console_client, "/console/licences")
    assert (
        console_client.post(
            f"/console/licences/{unknown}/revoke", data={"csrf_token": token, "reason": "x"}
        ).status_code
        == 404
    )


# -- public page ----------------------------------------------------------------------------------


def test_public_page_masks_the_holder(service, console_client, keys) -> None:
    login(console_client, keys["issuer"])
    ident = _issue(console_client)
    anonymous = console_client.application.test_client()
    resp = anonymous.get(f"/licences/{ident}")
    assert resp.status_code == 200 and resp.headers["X-Robots-Tag"] == "noindex"
    page = _text(resp)
    assert '<dd id="holder-name">张**</dd>' in page
    assert f'<code id="holder-id">{PERSON_ID[:6]}********{PERSON_ID[-4:]}</code>' in page
    assert "张三丰" not in page and PERSON_ID not in page
    for private in ("南京张三丰小吃店", COMPANY, "夫子庙", "餐饮服务"):  # no other field of the licence
        assert private not in page
    assert "营业执照" in page and "江苏省市场监督管理局" in page and ident in page and 'data-status="active"' in page

    company = _issue(
        console_client,
        **{
            "holder.name": "江苏某某科技有限公司",
            "holder.id_type": "001",
            "holder.id": COMPANY,
            "fields.name": "江苏某某科技有限公司",
        },
    )
    page = _text(anonymous.get(f"/licences/{company}"))
    assert '<dd id="holder-name">江苏******公司</dd>' in page
    assert f'<code id="holder-id">{COMPANY[:8]}********{COMPANY[-2:]}</code>' in page

    newer = change_licence(
        service,
        company,
        principal_or_actor=SystemActor("test"),
        fields={"domicile": "南京市玄武区1号"},
        timestamp=False,
    )
    page = _text(anonymous.get(f"/licences/{company}"))
    assert 'data-status="superseded"' in page and f'href="/licences/{newer.identifier}"' in page


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        (
            "/licences/" + LicenceIdentifier(BUSINESS_LICENCE.code, DEPT, "20269999999", 1).text,
            404,
            "licence_not_found",
        ),
        ("/licences/nonsense", 400, "invalid_identifier"),
        ("/licences/1.2.156.3005.2.11100000MB0143028R001.11320000MB0000001G.20260000001.001.0", 400, None),
        ("/licences/" + "9" * 3000, 400, "invalid_identifier"),
        ("/licences/%E5%BC%A0%00", 400, "invalid_identifier"),
    ],
)
def test_public_page_errors_are_pages_never_500(console_client, path: str, status: int, code: str | None) -> None:
    resp = console_client.get(path)
    assert resp.status_code == status and resp.mimetype == "text/html"
    if code:
        assert code in _text(resp)
