"""Across regions (跨省授权用证), between two real `trustsvc serve` processes: a verifier of
region B scans region A's holder code; B checks it against A's trust list and redeems it at A
with B's peer key; A decides on the holder's consent (naming ``region:<B>``) and both regions
record the use."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "federation"))

from federation_helpers import make_region, open_region_service, region_pin, running, setup_region
from holder_helpers import COMPANY, HOLDER, business_body
from sqlalchemy import select

from trustsvc.dashboard import dashboard
from trustsvc.storage.models import AuditEventRecord, Department

pytestmark = pytest.mark.slow
A, B = "320000", "220000"
PURPOSE = "异地开户"


def _soon(days: int = 30) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _events(region, action: str) -> list[dict]:
    svc = open_region_service(region)
    try:
        with svc.db.reader() as s:
            rows = (
                s.execute(
                    select(AuditEventRecord).where(AuditEventRecord.action == action).order_by(AuditEventRecord.seq)
                )
                .scalars()
                .all()
            )
            return [{"actor": r.actor, "object_id": r.object_id, **json.loads(r.details)} for r in rows]
    finally:
        svc.close()


def test_region_b_redeems_region_a_holder_code_at_a_and_both_record_it(tmp_path):
    a, b = make_region(tmp_path, A), make_region(tmp_path, B)
    for region in (a, b):
        setup_region(region)
    peer_key = a.cli("apikey", "create", "--role", "peer", "--label", f"region:{B}").stdout.decode().strip()
    wallet = a.cli("apikey", "create", "--role", "wallet").stdout.decode().strip()
    verifier = b.cli("apikey", "create", "--role", "verifier").stdout.decode().strip()
    b.env[f"TRUSTSVC_PEER_KEY_{A}"] = peer_key
    for _ in running([a, b]):
        status, seal, _ = a.request(
            "POST",
            "/api/v1/seals",
            key=a.admin_key,
            body={"department": a.uscc, "name": "江苏省市场监督管理局证照专用章"},
        )
        assert status == 201, seal
        status, lic, _ = a.request(
            "POST", "/api/v1/licences", key=a.admin_key, body={**business_body(), "department": a.uscc}
        )
        assert status == 201, lic
        status, body, _ = b.request(
            "POST", "/api/v1/trust/peers", key=b.admin_key, body={"url": a.url, "pin": region_pin(a)}
        )
        assert status in (200, 201), body

        def holder_code() -> str:
            status, made, _ = a.request("POST", "/api/v1/holder/codes", key=wallet, body={"holder": HOLDER})
            assert status == 201, made
            return str(made["code"])

        def redeem_at_b(code: str) -> tuple[int, dict]:
            status, answer, _ = b.request(
                "POST", "/api/v1/holder-codes/redeem", key=verifier, body={"code": code, "purpose": PURPOSE}
            )
            return status, answer

        # B checks A's holder code offline, from A's trust list
        report = b.verify_code(holder_code())
        assert report["indication"] == "PASSED", report["message"]
        assert report["object"]["code_type"] == "holder" and report["object"]["issuer_region"] == A

        # a consent naming another region does not let B in
        status, consent, _ = a.request(
            "POST",
            "/api/v1/holder/consents",
            key=wallet,
            body={
                "holder": HOLDER,
                "licences": [lic["id"]],
                "purpose": PURPOSE,
                "verifier": "region:360000",
                "valid_until": _soon(),
            },
        )
        assert status == 201, consent
        status, refused = redeem_at_b(holder_code())
        assert status == 403 and refused["error"]["code"] == "verifier_not_named", refused

        # one naming B does
        status, consent, _ = a.request(
            "POST",
            "/api/v1/holder/consents",
            key=wallet,
            body={
                "holder": HOLDER,
                "licences": [lic["id"]],
                "purpose": PURPOSE,
                "verifier": f"region:{B}",
                "valid_until": _soon(),
            },
        )
        assert status == 201, consent
        status, granted = redeem_at_b(holder_code())
        assert status == 200, granted
        assert [x["id"] for x in granted["licences"]] == [lic["id"]]
        assert granted["licences"][0]["fields"]["uscc"] == COMPANY and granted["via"]["region"] == A

        status, uses, _ = a.request("GET", f"/api/v1/holder/uses?id_type=001&id={COMPANY}", key=wallet)
        assert [(u["verifier"], u["outcome"], u["reason"]) for u in uses["items"]] == [
            (f"region:{B}", "granted", None),
            (f"region:{B}", "refused", "verifier_not_named"),
        ]
    at_a = _events(a, "holder.redeem")
    assert [(e["outcome"], e["verifier"]) for e in at_a] == [("refused", f"region:{B}"), ("granted", f"region:{B}")]
    assert all(e["actor"].startswith("apikey:") and e["on_behalf_of"].startswith("apikey:") for e in at_a)
    at_b = _events(b, "holder.redeem.forward")
    assert [(e["object_id"], e["status"], e["reason"]) for e in at_b] == [
        (A, 403, "verifier_not_named"),
        (A, 200, None),
    ]
    # A's console dashboard counts the licence B redeemed online (flushed as A's worker exited)
    svc = open_region_service(a)
    try:
        with svc.db.reader() as s:
            figures = dashboard(s, list(s.scalars(select(Department.id))))
    finally:
        svc.close()
    assert {region: sum(days) for region, days in figures.peer_redeems.items()} == {B: 1}
