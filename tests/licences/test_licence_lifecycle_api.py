"""Lifecycle over HTTP and the CLI: change and renew make version + 1 and supersede the old one
(whose status check then FAILS), bad bodies get coded 4xx and write nothing, and the public
status list follows every step (ETag, 304, JSON view)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from licence_helpers import DEPT, OTHER_DEPT, bearer, business_body
from sqlalchemy import func, select

from trustsvc.cli import cli
from trustsvc.federation.local_trust import local_trust_context
from trustsvc.formats.report import ReportBuilder
from trustsvc.licences.identifier import parse_identifier
from trustsvc.licences.status import add_status_check, licence_status
from trustsvc.status_lists import STATUS_LIST_MEDIA_TYPE, verify_status_list
from trustsvc.storage.models import AuditEventRecord, LicenceRecord


def _issue(client, keys) -> dict:
    resp = client.post("/api/v1/licences", json=business_body(), headers=bearer(keys["issuer"]))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def _rows(service) -> tuple[int, int]:
    with service.db.reader() as s:
        return (
            s.execute(select(func.count()).select_from(LicenceRecord)).scalar_one(),
            s.execute(select(func.count()).select_from(AuditEventRecord)).scalar_one(),
        )


def _verdict(service, identifier: str) -> tuple[str, str | None]:
    builder = ReportBuilder("licence")
    add_status_check(builder, licence_status(service.db, identifier), identifier=identifier)
    report = builder.build()
    return report.indication.value, report.sub_indication


def test_change_makes_version_two_and_supersedes_the_old(client, keys, seal, service) -> None:
    old = _issue(client, keys)
    resp = client.post(
        f"/api/v1/licences/{old['id']}/change",
        headers=bearer(keys["issuer"]),
        json={"fields": {"domicile": "南京市鼓楼区1号"}, "holder_name": "江苏某某信息科技有限公司"},
    )
    assert resp.status_code == 201, resp.get_json()
    new = resp.get_json()
    assert new["version"] == old["version"] + 1 and new["status"] == "active"
    assert resp.headers["Location"] == f"/api/v1/licences/{new['id']}"
    assert parse_identifier(new["id"]).serial == parse_identifier(old["id"]).serial
    assert new["fields"]["domicile"] == "南京市鼓楼区1号" and new["holder"]["name"] == "江苏某某信息科技有限公司"
    assert new["fields"]["legal_representative"] == old["fields"]["legal_representative"]  # merged
    assert new["links"]["status_list"] == f"/api/v1/status/{DEPT}"
    shown = client.get(f"/api/v1/licences/{old['id']}", headers=bearer(keys["verifier"])).get_json()
    assert shown["status"] == "superseded"
    assert _verdict(service, old["id"]) == ("FAILED", "REVOKED")
    assert _verdict(service, new["id"]) == ("PASSED", None)
    again = client.post(
        f"/api/v1/licences/{old['id']}/change", headers=bearer(keys["issuer"]), json={"fields": {"domicile": "x"}}
    )
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "invalid_transition"


def test_renew_makes_a_new_version_with_the_new_period(client, keys, seal, service) -> None:
    old = _issue(client, keys)
    resp = client.post(
        f"/api/v1/licences/{old['id']}/renew",
        headers=bearer(keys["admin"]),
        json={"valid_until": "2045-04-30", "valid_from": "2026-01-01"},
    )
    assert resp.status_code == 201, resp.get_json()
    new = resp.get_json()
    assert new["version"] == 2 and new["valid_until"] == "2045-04-30" and new["valid_from"] == "2026-01-01"
    assert _verdict(service, old["id"]) == ("FAILED", "REVOKED")
    endless = client.post(
        f"/api/v1/licences/{new['id']}/renew", headers=bearer(keys["issuer"]), json={"valid_until": None}
    )
    assert endless.status_code == 201 and endless.get_json()["valid_until"] is None
    assert endless.get_json()["version"] == 3


@pytest.mark.parametrize(
    ("op", "body", "status", "code"),
    [
        ("change", None, 400, "malformed_json"),  # "{not json": says where it broke
        ("change", [1], 400, "malformed_request"),
        ("change", {}, 422, "nothing_to_change"),
        ("change", {"fields": {}}, 422, "nothing_to_change"),
        ("change", {"colour": "red"}, 422, "unknown_field"),
        ("change", {"fields": "x"}, 422, "invalid_fields"),
        ("change", {"holder_name": ""}, 422, "invalid_field"),
        ("change", {"fields": {"established_on": "yesterday"}}, 422, None),
        ("change", {"fields": {"no_such_field": "1"}}, 422, None),
        ("renew", {}, 422, "missing_field"),
        ("renew", {"valid_until": "2045-13-01"}, 422, "invalid_date"),
        ("renew", {"valid_until": 2045}, 422, "invalid_date"),
        ("renew", {"valid_until": "2030-01-01", "valid_from": "2031-01-01"}, 422, "invalid_validity"),
        ("renew", {"valid_until": "2030-01-01", "until": "x"}, 422, "unknown_field"),
    ],
)
def test_bad_bodies_get_coded_4xx_and_write_nothing(client, keys, seal, service, op, body, status, code) -> None:
    old = _issue(client, keys)
    before = _rows(service)
    url = f"/api/v1/licences/{old['id']}/{op}"
    if body is None:
        resp = client.post(
            url, data="{not json", headers=bearer(keys["issuer"], **{"Content-Type": "application/json"})
        )
    else:
        resp = client.post(url, json=body, headers=bearer(keys["issuer"]))
    assert resp.status_code == status, resp.get_json()
    error = resp.get_json()["error"]
    assert error["code"] and error["message"]
    if code is not None:
        assert error["code"] == code
    assert _rows(service) == before


def test_lifecycle_roles_and_scope(client, keys, seal, service) -> None:
    old = _issue(client, keys)
    body = {"fields": {"domicile": "x"}}
    assert client.post(f"/api/v1/licences/{old['id']}/change", json=body).status_code == 401
    verifier = client.post(f"/api/v1/licences/{old['id']}/change", json=body, headers=bearer(keys["verifier"]))
    assert verifier.status_code == 403 and verifier.get_json()["error"]["code"] == "role_not_allowed"
    from trustsvc import pki
    from trustsvc.apikeys import create_api_key

    pki.add_department(service, OTHER_DEPT, "南京市市场监督管理局", actor="test")
    with service.db.transaction() as s:
        other = create_api_key(
            s, role="issuer", actor="test", department_uscc=OTHER_DEPT, licence_types=[old["type"]]
        ).token
    foreign = client.post(f"/api/v1/licences/{old['id']}/renew", json={"valid_until": None}, headers=bearer(other))
    assert foreign.status_code == 403 and foreign.get_json()["error"]["code"] == "other_department"
    missing = client.post(
        f"/api/v1/licences/{old['id'][:-3]}999/renew", json={"valid_until": None}, headers=bearer(keys["issuer"])
    )
    assert missing.status_code in (404, 422)


def test_status_list_endpoint_follows_revocation_with_etag_and_304(client, keys, seal, service) -> None:
    lic = _issue(client, keys)
    index_of = {}
    with service.db.reader() as s:
        index_of[lic["id"]] = s.execute(
            select(LicenceRecord.status_index).where(LicenceRecord.identifier == lic["id"])
        ).scalar_one()
    first = client.get(f"/api/v1/status/{DEPT}")  # public: no key
    assert first.status_code == 200 and first.mimetype == STATUS_LIST_MEDIA_TYPE
    etag = first.headers["ETag"]
    assert etag.strip('"') == __import__("hashlib").sha256(first.data).hexdigest()
    assert first.cache_control.public and 0 < first.cache_control.max_age <= 3600
    trust = local_trust_context(service.db)
    assert verify_status_list(first.data, trust=trust, issuer=DEPT).trusted
    again = client.get(f"/api/v1/status/{DEPT}", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert client.get(f"/api/v1/status/{DEPT}").data == first.data  # unchanged: the same list

    revoked = client.post(
        f"/api/v1/licences/{lic['id']}/revoke", json={"reason": "吊销"}, headers=bearer(keys["issuer"])
    )
    assert revoked.status_code == 200
    after = client.get(f"/api/v1/status/{DEPT}", headers={"If-None-Match": etag})
    assert after.status_code == 200 and after.headers["ETag"] != etag
    checked = verify_status_list(after.data, trust=trust, issuer=DEPT)
    assert checked.trusted and checked.status_list.status_of(index_of[lic["id"]]) == "revoked"
    view = client.get(f"/api/v1/status/{DEPT}?format=json")
    assert view.status_code == 200
    data = view.get_json()
    assert data["revoked"] == [index_of[lic["id"]]] and data["suspended"] == []
    assert data["sequence"] == checked.status_list.sequence and data["issuer"]["uscc"] == DEPT
    assert (
        client.get(f"/api/v1/status/{DEPT}?format=json", headers={"If-None-Match": view.headers["ETag"]}).status_code
        == 304
    )


def test_status_list_endpoint_errors(client, seal) -> None:
    missing = client.get(f"/api/v1/status/{OTHER_DEPT}")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "issuer_not_found"
    assert client.get("/api/v1/status/nonsense").status_code == 404
    bad = client.get(f"/api/v1/status/{DEPT}?format=xml")
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "invalid_format"


# -- CLI ---------------------------------------------------------------------------------------


@pytest.fixture
def cli_env(service, service_env) -> dict[str, str]:
    return dict(service_env)


def _run(args: list[str], env: dict) -> dict:
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 0, (result.output, getattr(result, "stderr", ""))
    return json.loads(result.stdout)


def test_cli_suspend_reinstate_change_renew_and_show_without_pin(
    cli_env, client, keys, seal, service, tmp_path: Path
) -> None:
    lic = _issue(client, keys)
    assert _run(["licence", "suspend", lic["id"], "--reason", "核查中"], cli_env)["status"] == "suspended"
    assert _verdict(service, lic["id"]) == ("INDETERMINATE", "TRY_LATER")
    assert _run(["licence", "reinstate", lic["id"]], cli_env)["status"] == "active"
    data = tmp_path / "change.json"
    data.write_text(json.dumps({"fields": {"domicile": "南京市江宁区2号"}}, ensure_ascii=False), encoding="utf-8")
    changed = _run(["licence", "change", lic["id"], "--data", str(data)], cli_env)
    assert changed["version"] == 2 and changed["fields"]["domicile"] == "南京市江宁区2号"
    renewed = _run(["licence", "renew", changed["id"], "--valid-until", "2044-12-31"], cli_env)
    assert renewed["version"] == 3 and renewed["valid_until"] == "2044-12-31"
    no_pin = {**cli_env, "TRUSTSVC_HSM_PIN": None}
    shown = _run(["licence", "show", changed["id"]], no_pin)
    assert shown["status"] == "superseded"
    needs_pin = CliRunner().invoke(cli, ["licence", "suspend", renewed["id"]], env=no_pin)
    assert needs_pin.exit_code == 1 and "pin" in needs_pin.stderr.lower()
    empty = CliRunner().invoke(cli, ["licence", "change", renewed["id"]], env=cli_env)
    assert empty.exit_code == 1 and "nothing_to_change" in empty.stderr
    both = CliRunner().invoke(
        cli, ["licence", "renew", renewed["id"], "--no-end", "--valid-until", "2050-01-01"], env=cli_env
    )
    assert both.exit_code == 2
