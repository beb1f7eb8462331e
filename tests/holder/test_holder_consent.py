"""一人一码 / 一企一码: holder codes, consent, redeem (授权用证) and the holder's record of uses
(用证记录), over HTTP and at the service level (where time can be moved)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from holder_helpers import COMPANY, HOLDER, bearer
from sqlalchemy import select

from api.shapes import redeemed_licence_json
from ca.results import Indication
from trustsvc.apikeys import SystemActor
from trustsvc.holder.common import holder_from_json
from trustsvc.holder.consent import (
    ConsentRefusedError,
    consent_request_from_json,
    give_consent,
    make_holder_code,
    redeem_holder_code,
)
from trustsvc.holder.material import holder_trust_from_db
from trustsvc.holder.verify import verify_holder_text
from trustsvc.licences.files import ensure_licence_file
from trustsvc.storage.models import AuditEventRecord, utcnow

PURPOSE = "开立对公账户"


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _consent(client, keys, licences, *, verifier=None, purpose=PURPOSE, days=30):
    resp = client.post(
        "/api/v1/holder/consents",
        headers=bearer(keys["wallet"]),
        json={
            "holder": HOLDER,
            "licences": licences,
            "purpose": purpose,
            "verifier": verifier,
            "valid_until": _iso(utcnow() + dt.timedelta(days=days)),
        },
    )
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def _code(client, keys) -> str:
    resp = client.post("/api/v1/holder/codes", headers=bearer(keys["wallet"]), json={"holder": HOLDER})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["code"]


def _redeem(client, token, code, purpose=PURPOSE, **extra):
    return client.post(
        "/api/v1/holder-codes/redeem", headers=bearer(token), json={"code": code, "purpose": purpose, **extra}
    )


def _redeem_events(service) -> list[dict]:
    with service.db.reader() as s:
        rows = (
            s.execute(
                select(AuditEventRecord)
                .where(AuditEventRecord.action == "holder.redeem")
                .order_by(AuditEventRecord.seq)
            )
            .scalars()
            .all()
        )
        return [{"actor": r.actor, **json.loads(r.details)} for r in rows]


def test_the_holder_code_shows_the_masked_holder_and_licence_types_only(service, licences, client, keys):
    code = _code(client, keys)
    report = verify_holder_text(code, trust=holder_trust_from_db(service.db, live=True))
    assert report.indication is Indication.PASSED, report.message
    obj = report.object
    assert obj["code_type"] == "holder"
    assert obj["holder"] == {"kind": "enterprise", "name": "江苏******公司", "id": "91320100********" + COMPANY[-2:]}
    assert sorted(x["licence_type_name"] for x in obj["licences"]) == ["营业执照", "食品经营许可证", "食品经营许可证"]
    assert {x["status"] for x in obj["licences"]} == {"active"}
    assert COMPANY not in json.dumps(report.as_dict(), ensure_ascii=False)
    assert "江苏某某科技有限公司" not in json.dumps(report.as_dict(), ensure_ascii=False)


def test_redeem_with_consent_returns_the_consented_licences_and_their_files(service, licences, client, keys):
    consent = _consent(client, keys, [licences.business, licences.food], verifier=keys["verifier_actor"])
    resp = _redeem(client, keys["verifier"], _code(client, keys))
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert [x["id"] for x in body["licences"]] == [licences.business, licences.food]
    assert body["consents"][0]["id"] == consent["id"] and body["holder"]["id"] == COMPANY
    assert body["licences"][0]["fields"]["uscc"] == COMPANY
    ensure_licence_file(service, licences.business, actor="test")  # made at issuance through the API
    pdf = client.get(body["licences"][0]["file"], headers=bearer(keys["verifier"]))
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    only = _redeem(client, keys["verifier"], _code(client, keys), licences=[licences.food])
    assert [x["id"] for x in only.get_json()["licences"]] == [licences.food]


def test_refusals_are_403_with_a_reason_and_every_redeem_is_audited(service, licences, client, keys):
    code = _code(client, keys)
    refused = _redeem(client, keys["verifier"], code)
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "no_consent"
    _consent(client, keys, [licences.business], verifier=keys["verifier_actor"])
    cases = [
        (keys["verifier2"], PURPOSE, {}, "verifier_not_named"),
        (keys["verifier"], "贷款审批", {}, "no_consent"),
        (keys["verifier"], PURPOSE, {"licences": [licences.food]}, "licence_not_consented"),
    ]
    for token, purpose, extra, reason in cases:
        resp = _redeem(client, token, code, purpose, **extra)
        assert resp.status_code == 403 and resp.get_json()["error"]["code"] == reason, (reason, resp.get_json())
    assert _redeem(client, keys["verifier"], code).status_code == 200
    events = _redeem_events(service)
    assert [(e["outcome"], e["reason"]) for e in events] == [
        ("refused", "no_consent"),
        ("refused", "verifier_not_named"),
        ("refused", "no_consent"),
        ("refused", "licence_not_consented"),
        ("granted", None),
    ]
    assert events[1]["actor"] == keys["verifier2_actor"] and events[-1]["licences"] == [licences.business]
    uses = client.get(f"/api/v1/holder/uses?id_type=001&id={COMPANY}", headers=bearer(keys["wallet"]))
    items = uses.get_json()["items"]
    assert [(u["outcome"], u["reason"]) for u in items] == [(e["outcome"], e["reason"]) for e in reversed(events)]
    assert items[0]["verifier"] == keys["verifier_actor"] and items[0]["purpose"] == PURPOSE


def test_consent_for_any_verifier_and_withdrawal(service, licences, client, keys):
    consent = _consent(client, keys, [licences.other_food])
    for token in ("verifier", "verifier2", "peer"):
        resp = _redeem(client, keys[token], _code(client, keys))
        assert resp.status_code == 200 and [x["id"] for x in resp.get_json()["licences"]] == [licences.other_food]
    listed = client.get(f"/api/v1/holder/consents?id_type=001&id={COMPANY}", headers=bearer(keys["wallet"]))
    assert [c["state"] for c in listed.get_json()["items"]] == ["valid"]
    assert client.delete(f"/api/v1/holder/consents/{consent['id']}", headers=bearer(keys["wallet"])).status_code == 204
    resp = _redeem(client, keys["verifier"], _code(client, keys))
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "no_consent"
    listed = client.get(f"/api/v1/holder/consents?id_type=001&id={COMPANY}", headers=bearer(keys["wallet"]))
    assert [c["state"] for c in listed.get_json()["items"]] == ["withdrawn"]


def test_after_the_consent_or_the_code_expires_redeem_is_refused(service, licences, keys):
    holder = holder_from_json(HOLDER)
    now = utcnow().replace(microsecond=0)
    give_consent(
        service,
        consent_request_from_json(
            {
                "licences": [licences.business],
                "purpose": PURPOSE,
                "verifier": None,
                "valid_until": _iso(now + dt.timedelta(seconds=60)),
            },
            holder,
        ),
        principal_or_actor=SystemActor("test"),
    )
    code = make_holder_code(service, holder, principal_or_actor=SystemActor("test"), ttl=900).text
    assert redeem_holder_code(
        service,
        code,
        purpose=PURPOSE,
        principal_or_actor=SystemActor(keys["verifier_actor"]),
        render_licence=redeemed_licence_json,
        now=now + dt.timedelta(seconds=30),
    )["licences"]
    with pytest.raises(ConsentRefusedError) as exc:
        redeem_holder_code(
            service,
            code,
            purpose=PURPOSE,
            principal_or_actor=SystemActor(keys["verifier_actor"]),
            render_licence=redeemed_licence_json,
            now=now + dt.timedelta(seconds=120),
        )
    assert exc.value.code == "consent_expired"
    with pytest.raises(ConsentRefusedError) as exc:
        redeem_holder_code(
            service,
            code,
            purpose=PURPOSE,
            principal_or_actor=SystemActor(keys["verifier_actor"]),
            render_licence=redeemed_licence_json,
            now=now + dt.timedelta(seconds=1000),
        )
    assert exc.value.code == "holder_code_expired"
    assert [(e["outcome"], e["reason"]) for e in _redeem_events(service)] == [
        ("granted", None),
        ("refused", "consent_expired"),
        ("refused", "holder_code_expired"),
    ]


def test_who_may_call_what(service, licences, client, keys):
    code = _code(client, keys)
    assert _redeem(client, keys["wallet"], code).status_code == 403
    for path in ("/api/v1/holder/codes", "/api/v1/holder/presentations"):
        resp = client.post(path, headers=bearer(keys["verifier"]), json={"holder": HOLDER})
        assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "role_not_allowed"
    garbage = _redeem(client, keys["verifier"], "TS1:NOTACODE")
    assert garbage.status_code == 422 and garbage.get_json()["error"]["code"] == "invalid_holder_code"
    stranger = client.post(
        "/api/v1/holder/consents",
        headers=bearer(keys["wallet"]),
        json={
            "holder": {"id_type": "001", "id": "91320100MA1FGHJK0" + COMPANY[-1]},
            "licences": [licences.business],
            "purpose": PURPOSE,
            "valid_until": _iso(utcnow() + dt.timedelta(days=1)),
        },
    )
    assert stranger.status_code in (404, 422)


def test_wallet_gets_msos_with_salts_and_values(service, licences, client, keys):
    resp = client.get(f"/api/v1/holder/licences?id_type=001&id={COMPANY}", headers=bearer(keys["wallet"]))
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    items = resp.get_json()["items"]
    assert [x["id"] for x in items] == list(licences.all)
    business = items[0]
    assert business["fields"]["uscc"]["value"] == COMPANY and len(business["fields"]["uscc"]["salt"]) == 32
    assert business["fields"]["holder_name"]["label"] == "持证主体"
    presentation = client.post(
        "/api/v1/holder/presentations",
        headers=bearer(keys["wallet"]),
        json={"holder": HOLDER, "purpose": PURPOSE, "licences": [{"id": licences.business, "fields": ["uscc"]}]},
    )
    assert presentation.status_code == 201 and presentation.get_json()["code"].startswith("TS1:")
