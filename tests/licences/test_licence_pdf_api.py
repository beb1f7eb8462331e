"""The licence PDF over HTTP (GET /api/v1/licences/{id}/file, made at issuance) and the CLI
(`licence issue` makes it, `licence file --out`, `verify` exit codes)."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from licence_helpers import DEPT, OTHER_DEPT, bearer, business_body, food_body
from sqlalchemy import func, select

from trustsvc import pki
from trustsvc.apikeys import SystemActor, create_api_key
from trustsvc.cli import cli
from trustsvc.licences.catalogue import BUSINESS_LICENCE
from trustsvc.licences.identifier import LicenceIdentifier
from trustsvc.storage.models import LicenceFileRecord, LicenceRecord


def _stored_files(service) -> int:
    with service.db.reader() as s:
        return s.execute(select(func.count()).select_from(LicenceFileRecord)).scalar_one()


def test_issue_makes_the_file_and_get_serves_it(client, keys, seal, service) -> None:
    created = client.post("/api/v1/licences", json=business_body(), headers=bearer(keys["issuer"]))
    assert created.status_code == 201, created.get_json()
    ident = created.get_json()["id"]
    assert created.get_json()["links"]["file"] == f"/api/v1/licences/{ident}/file"
    assert _stored_files(service) == 1  # made right after issuance, not on first download
    resp = client.get(f"/api/v1/licences/{ident}/file", headers=bearer(keys["issuer"]))
    assert resp.status_code == 200
    assert resp.mimetype == "application/pdf" and resp.data.startswith(b"%PDF-")
    assert resp.headers["Content-Disposition"] == f'attachment; filename="licence-{ident}.pdf"'
    sha = hashlib.sha256(resp.data).hexdigest()
    assert resp.headers["ETag"] == f'"{sha}"'
    again = client.get(
        f"/api/v1/licences/{ident}/file", headers=bearer(keys["issuer"], **{"If-None-Match": f'"{sha}"'})
    )
    assert again.status_code == 304 and not again.data
    for role in ("verifier", "admin"):
        other = client.get(f"/api/v1/licences/{ident}/file", headers=bearer(keys[role]))
        assert other.status_code == 200 and other.data == resp.data
    assert _stored_files(service) == 1
    verified = client.post("/api/v1/verify", data=resp.data, content_type="application/pdf").get_json()
    assert verified["indication"] == "PASSED" and verified["object"]["identifier"] == ident


def test_file_access_rules(client, keys, seal, service) -> None:
    ident = client.post("/api/v1/licences", json=business_body(), headers=bearer(keys["issuer"])).get_json()["id"]
    url = f"/api/v1/licences/{ident}/file"
    assert client.get(url).status_code == 401
    peer = client.get(url, headers=bearer(keys["peer"]))
    assert peer.status_code == 403 and peer.get_json()["error"]["code"] == "role_not_allowed"
    pki.add_department(service, OTHER_DEPT, "另一个局", actor="test")
    with service.db.transaction() as s:
        other_issuer = create_api_key(
            s, role="issuer", actor="test", department_uscc=OTHER_DEPT, licence_types=[BUSINESS_LICENCE.code]
        ).token
    foreign = client.get(url, headers=bearer(other_issuer))
    assert foreign.status_code == 403 and foreign.get_json()["error"]["code"] == "other_department"
    unknown = LicenceIdentifier(BUSINESS_LICENCE.code, DEPT, "20269999999", 1).text
    missing = client.get(f"/api/v1/licences/{unknown}/file", headers=bearer(keys["admin"]))
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "licence_not_found"
    bad = client.get("/api/v1/licences/not-an-identifier/file", headers=bearer(keys["admin"]))
    assert bad.status_code == 422


def test_file_is_made_on_demand_and_revoked_licences_keep_theirs(client, keys, seal, service) -> None:
    from trustsvc.licences.service import issue_licence, request_from_json

    row = issue_licence(
        service, request_from_json(food_body()), principal_or_actor=SystemActor("test"), department_uscc=DEPT
    )
    assert _stored_files(service) == 0  # issued without the API: no file yet
    # a verifier's read never makes the department's key sign
    not_yet = client.get(f"/api/v1/licences/{row.identifier}/file", headers=bearer(keys["verifier"]))
    assert not_yet.status_code == 404 and not_yet.get_json()["error"]["code"] == "licence_file_not_made"
    assert _stored_files(service) == 0
    first = client.get(f"/api/v1/licences/{row.identifier}/file", headers=bearer(keys["issuer"]))
    assert first.status_code == 200 and _stored_files(service) == 1
    assert client.get(f"/api/v1/licences/{row.identifier}/file", headers=bearer(keys["verifier"])).data == first.data
    revoked = client.post(
        f"/api/v1/licences/{row.identifier}/revoke", json={"reason": "吊销"}, headers=bearer(keys["admin"])
    )
    assert revoked.status_code == 200
    kept = client.get(f"/api/v1/licences/{row.identifier}/file", headers=bearer(keys["admin"]))
    assert kept.status_code == 200 and kept.data == first.data
    report = client.post("/api/v1/verify", data={"file": (io.BytesIO(kept.data), "licence.pdf")}).get_json()
    assert (report["indication"], report["sub_indication"]) == ("FAILED", "REVOKED")


def test_revoked_without_a_file_is_409(client, keys, seal, service) -> None:
    from trustsvc.licences.service import issue_licence, request_from_json, revoke_licence

    row = issue_licence(
        service, request_from_json(food_body()), principal_or_actor=SystemActor("test"), department_uscc=DEPT
    )
    revoke_licence(service, row.identifier, principal_or_actor=SystemActor("test"), reason="吊销")
    resp = client.get(f"/api/v1/licences/{row.identifier}/file", headers=bearer(keys["admin"]))
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "licence_not_active"


@pytest.fixture
def cli_env(service, service_env) -> dict[str, str]:
    return dict(service_env)


def test_cli_issue_file_and_verify_exit_codes(cli_env, seal, service, tmp_path: Path) -> None:
    data = tmp_path / "licence.json"
    data.write_text(json.dumps(business_body(), ensure_ascii=False), encoding="utf-8")
    runner = CliRunner()
    issued = runner.invoke(cli, ["licence", "issue", "--department", DEPT, "--data", str(data)], env=cli_env)
    assert issued.exit_code == 0, issued.output
    ident = json.loads(issued.stdout)["id"]
    assert _stored_files(service) == 1
    out = tmp_path / "licence.pdf"
    written = runner.invoke(cli, ["licence", "file", ident, "--out", str(out)], env=cli_env)
    assert written.exit_code == 0, written.output
    content = out.read_bytes()
    assert written.stdout.split()[0] == hashlib.sha256(content).hexdigest()
    with service.db.reader() as s:
        row = s.execute(select(LicenceRecord).where(LicenceRecord.identifier == ident)).scalar_one()
        assert s.get(LicenceFileRecord, (row.id, "application/pdf")).content == content
    good = runner.invoke(cli, ["verify", str(out), "--json"], env=cli_env)
    assert good.exit_code == 0, good.output
    report = json.loads(good.stdout)
    assert report["indication"] == "PASSED" and report["object"]["kind"] == "pdf"
    assert report["status_now"]["licence"]["status"] == "active"
    tampered = tmp_path / "tampered.pdf"
    body = bytearray(content)
    body[len(body) // 3] ^= 0x01
    tampered.write_bytes(bytes(body))
    bad = runner.invoke(cli, ["verify", str(tampered)], env=cli_env)
    assert bad.exit_code == 1, bad.output
    assert "FAILED" in bad.stdout
    revoked = runner.invoke(cli, ["licence", "revoke", ident, "--reason", "吊销"], env=cli_env)
    assert revoked.exit_code == 0
    after = runner.invoke(cli, ["verify", str(out), "--json"], env=cli_env)
    assert after.exit_code == 1 and json.loads(after.stdout)["sub_indication"] == "REVOKED"
