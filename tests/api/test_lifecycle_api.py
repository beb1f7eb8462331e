"""The certificate and seal lifecycle over HTTP: who may do what, the answers, and the 409/422s."""

from __future__ import annotations

import datetime as dt

import pytest
from api_helpers import bearer

DEPT = "11320000MB0000001G"
OTHER = "91350100M000100Y43"


@pytest.fixture
def database_url(tmp_path) -> str:
    """SQLite: the lifecycle's storage is covered on both backends in tests/trustsvc."""
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def esid(client, keys) -> str:
    r = client.post("/api/v1/seals", json={"name": "江苏省市场监督管理局"}, headers=bearer(keys["seal_manager"]))
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["default"] is True  # the department's first seal
    return str(r.get_json()["esid"])


def test_seal_manager_manages_its_departments_seals(client, keys, esid) -> None:
    manager = bearer(keys["seal_manager"])
    other = client.post("/api/v1/seals", json={"name": "合同专用章", "default": True}, headers=manager).get_json()
    assert other["default"] is True
    listed = client.get("/api/v1/seals", headers=manager).get_json()
    assert [(s["esid"], s["default"]) for s in listed] == [(esid, False), (other["esid"], True)]
    assert client.get(f"/api/v1/seals?department={OTHER}", headers=manager).status_code == 403
    r = client.post(f"/api/v1/departments/{DEPT}/default-seal", json={"esid": esid}, headers=manager)
    assert r.status_code == 200 and r.get_json()["default"] is True
    r = client.post(f"/api/v1/seals/{esid}/suspend", json={"reason": "印章挂失"}, headers=manager)
    assert r.status_code == 200 and r.get_json()["status"] == "suspended"
    assert r.get_json()["trust_list"]["published"] is True
    assert client.get(f"/api/v1/seals/{esid}").get_json()["changes"][0]["reason"] == "印章挂失"
    r = client.post(f"/api/v1/seals/{esid}/suspend", json={"reason": "again"}, headers=manager)
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "invalid_seal_transition"
    r = client.post(f"/api/v1/seals/{esid}/reinstate", json={"effective_at": "2026-01-01T00:00:00Z"}, headers=manager)
    assert r.status_code == 422 and r.get_json()["error"]["field"] == "effective_at"
    assert client.post(f"/api/v1/seals/{esid}/reinstate", json={}, headers=manager).status_code == 200
    r = client.post(f"/api/v1/seals/{esid}/revoke", json={}, headers=manager)
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "reason_required"
    lost = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    r = client.post(f"/api/v1/seals/{esid}/revoke", json={"reason": "注销", "effective_at": lost}, headers=manager)
    assert r.status_code == 200 and r.get_json()["status"] == "revoked"
    assert client.get("/api/v1/seals?status=revoked", headers=manager).get_json()[0]["esid"] == esid


def test_issuers_see_seals_but_do_not_manage_them(client, keys, esid) -> None:
    issuer = bearer(keys["issuer"])
    assert [s["esid"] for s in client.get("/api/v1/seals", headers=issuer).get_json()] == [esid]
    for path, body in (
        (f"/api/v1/seals/{esid}/suspend", {"reason": "x"}),
        ("/api/v1/seals", {"name": "x"}),
        (f"/api/v1/departments/{DEPT}/default-seal", {"esid": esid}),
    ):
        r = client.post(path, json=body, headers=issuer)
        assert r.status_code == 403 and r.get_json()["error"]["code"] == "role_not_allowed", path
    assert client.get("/api/v1/seals", headers=bearer(keys["verifier"])).status_code == 403


def test_certificate_lifecycle_is_the_admins(client, keys, esid) -> None:
    admin = bearer(keys["admin"])
    assert client.get("/api/v1/certificates", headers=bearer(keys["seal_manager"])).status_code == 403
    listed = client.get(f"/api/v1/certificates?department={DEPT}&current=true", headers=admin).get_json()
    slugs = {c["slug"]: c for c in listed}
    assert set(slugs) == {DEPT, f"{DEPT}/seal-maker", f"{DEPT}/signer"} and all(c["usable"] for c in listed)
    assert client.get("/api/v1/certificates?expiring_within_days=x", headers=admin).status_code == 422
    signer = slugs[f"{DEPT}/signer"]
    assert client.get(f"/api/v1/certificates/{signer['sha256']}", headers=admin).get_json()["slug"] == signer["slug"]
    # renew the signer: a new certificate, the seal re-made and still the default
    r = client.post(f"/api/v1/certificates/{signer['serial']}/renew", json={}, headers=admin)
    assert r.status_code == 201, r.get_json()
    [remade] = r.get_json()["seals_remade"]
    assert remade["old"] == esid and client.get(f"/api/v1/seals/{remade['new']}").get_json()["default"] is True
    # revoke the (replaced) signer certificate: a bad reason, then keyCompromise from a time
    old = r.get_json()["replaced"]["serial"]
    r = client.post(f"/api/v1/certificates/{old}/revoke", json={"reason": "certificateHold"}, headers=admin)
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "invalid_revocation_reason"
    t = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    r = client.post(
        f"/api/v1/certificates/{old}/revoke", json={"reason": "keyCompromise", "compromised_at": t}, headers=admin
    )
    assert r.status_code == 200 and r.get_json()["certificate"]["revoked_at"] == t, r.get_json()
    again = client.post(f"/api/v1/certificates/{old}/revoke", json={"reason": "keyCompromise"}, headers=admin)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "certificate_already_revoked"
    # re-key the department
    r = client.post(f"/api/v1/departments/{DEPT}/rekey", json={}, headers=admin)
    assert r.status_code == 422 and r.get_json()["error"]["field"] == "compromised_at"
    r = client.post(f"/api/v1/departments/{DEPT}/rekey", json={"compromised_at": t, "reissue": "yes"}, headers=admin)
    assert r.status_code == 422 and r.get_json()["error"]["field"] == "reissue"
    r = client.post(f"/api/v1/departments/{DEPT}/rekey", json={"compromised_at": t}, headers=admin)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["seals"][0]["old"] == remade["new"]
    r = client.post(f"/api/v1/certificates/{slugs[DEPT]['serial']}/renew", json={}, headers=admin)
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "not_renewable"
