"""The key compromise drill, end to end over HTTP between two real `trustsvc serve` processes.

Region 320000 (A) issues and time-stamps, its department's signer key is compromised at T
(objects are still made with it after T, as happens before anyone notices), A re-keys the
department and issues again. Region 220000 (B) holds A's list by pin and refreshes: what was
signed before T passes with a warning naming the rule, what the old key signed after T FAILS
(REVOKED), what the new key signs passes. Then a seal's suspension and revocation, here and at B.

The thief's signatures are made in-process with A's key store (the service itself refuses).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fed_bodies import business_body
from federation_helpers import (
    Region,
    issue_licence,
    make_region,
    open_region_service,
    region_pin,
    running,
    setup_region,
)

pytestmark = pytest.mark.slow  # starts servers in subprocesses

A, B = "320000", "220000"
DOC = "跨省通办：密钥泄露演练".encode()


def _seal(region: Region, name: str, *, default: bool = False) -> str:
    status, seal, _ = region.request(
        "POST",
        "/api/v1/seals",
        key=region.admin_key,
        body={"department": region.uscc, "name": name, "default": default},
    )
    assert status == 201, seal
    return str(seal["esid"])


def _sign(region: Region, esid: str) -> bytes:
    status, ses, _ = region.request(
        "POST",
        f"/api/v1/seals/{esid}/sign?format=der",
        raw=DOC,
        key=region.admin_key,
        content_type="application/octet-stream",
    )
    assert status == 200, ses
    return bytes(ses)


def _refused(region: Region, esid: str) -> dict[str, Any]:
    status, body, _ = region.request(
        "POST",
        f"/api/v1/seals/{esid}/sign?format=der",
        raw=DOC,
        key=region.admin_key,
        content_type="application/octet-stream",
    )
    assert status == 409, body
    return body["error"]  # type: ignore[no-any-return]


def _forge(region: Region, esid: str, *, first_key: bool) -> bytes:
    """A signature by whoever holds the department's first (``first_key``) or current signer
    key, time-stamped by the region's public TSA like anyone's."""
    from sqlalchemy import select

    from trustsvc.formats.seals.make import sign_document
    from trustsvc.sealing import get_seal, region_timestamper
    from trustsvc.storage.models import CertificateRecord, utcnow

    svc = open_region_service(region)
    try:
        with svc.db.reader() as s:
            seal = get_seal(s, esid)
            wanted = (
                CertificateRecord.slug.like(f"{region.uscc}/signer%")
                if first_key
                else CertificateRecord.slug == f"{region.uscc}/signer"
            )
            signer = s.execute(select(CertificateRecord).where(wanted).order_by(CertificateRecord.id)).scalars().first()
        assert signer is not None and signer.key_ref is not None
        return sign_document(
            DOC,
            seal=seal.der,
            signer=svc.keystore.signer(signer.key_ref),
            signer_cert=signer.der,
            property_info="/",
            time=utcnow().replace(microsecond=0),
            timestamper=region_timestamper(svc),
        )
    finally:
        svc.close()


def _next_second() -> dt.datetime:
    time.sleep(1.1)
    return dt.datetime.now(dt.UTC)


def _refresh(region: Region) -> None:
    status, outcomes, _ = region.request("POST", "/api/v1/trust/refresh", key=region.admin_key)
    assert status == 200 and all(o["outcome"] in ("updated", "unchanged") for o in outcomes), outcomes


def _show(report: dict[str, Any]) -> str:
    return json.dumps(report, ensure_ascii=False, indent=1)[:6000]


def _passed_with_rule(report: dict[str, Any], rule: str) -> None:
    assert report["indication"] == "PASSED", _show(report)
    assert any(c["result"] == "warning" and c["detail"].startswith(f"rule {rule}") for c in report["checks"]), _show(
        report
    )
    assert any(w.startswith(f"rule {rule}") for w in report["warnings"]), _show(report)


def _failed_revoked(report: dict[str, Any]) -> None:
    assert report["indication"] == "FAILED" and report["sub_indication"] == "REVOKED", _show(report)


def _passed_clean(report: dict[str, Any]) -> None:
    assert report["indication"] == "PASSED", _show(report)
    assert not [
        c
        for c in report["checks"]
        if c["name"].endswith(("revocation_rule", "seal.status")) and c["result"] != "passed"
    ], _show(report)


@pytest.fixture(scope="module")
def drill(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("drill")
    a, b = make_region(base, A), make_region(base, B)
    setup_region(a)
    setup_region(b)
    pin = region_pin(a)
    for _ in running([a, b]):
        status, body, _ = b.request("POST", "/api/v1/trust/peers", key=b.admin_key, body={"url": a.url, "pin": pin})
        assert status == 201, body
        old_seal = _seal(a, "江苏省市场监督管理局")
        # before T: a licence (sealed metadata and PDF, both time-stamped) and a sealed document
        before = {"licence": issue_licence(a, business_body()), "ses": _sign(a, old_seal)}
        t = _next_second()
        _next_second()
        # after T, still with the old key (nobody knows yet)
        after = {"licence": issue_licence(a, business_body()), "ses": _sign(a, old_seal)}
        status, rekeyed, _ = a.request(
            "POST",
            f"/api/v1/departments/{a.uscc}/rekey",
            key=a.admin_key,
            body={"compromised_at": t.strftime("%Y-%m-%dT%H:%M:%SZ")},
        )
        assert status == 200, rekeyed
        stolen = _forge(a, old_seal, first_key=True)  # the thief, after the re-key
        new_seal = rekeyed["seals"][0]["new"]
        new = {"licence": issue_licence(a, business_body()), "ses": _sign(a, new_seal)}
        reissued = rekeyed["licences_reissued"][0]["new"]
        status, reissued_pdf, _ = a.request("GET", f"/api/v1/licences/{reissued}/file", key=a.admin_key)
        assert status == 200
        _refresh(b)
        yield {
            "a": a,
            "b": b,
            "t": t,
            "old_seal": old_seal,
            "new_seal": new_seal,
            "rekeyed": rekeyed,
            "before": before,
            "after": after,
            "new": new,
            "stolen": stolen,
            "reissued": reissued,
            "reissued_pdf": reissued_pdf,
        }


def test_the_rekey_answer_says_what_changed(drill) -> None:
    r = drill["rekeyed"]
    assert r["compromised_at"] == drill["t"].strftime("%Y-%m-%dT%H:%M:%SZ")
    assert {(c["profile"], c["revocation_reason"]) for c in r["revoked"]} == {
        ("signer", "key_compromise"),
        ("seal_maker", "superseded"),
    }
    assert r["seals"] == [{"old": drill["old_seal"], "new": drill["new_seal"], "revoked_from": r["compromised_at"]}]
    assert [x["old"] for x in r["licences_reissued"]] == [drill["after"]["licence"]["id"]]
    assert r["trust_list"]["published"] and r["crls"][0]["signed"]
    # the old seal is not applied any more; the new one is the default
    assert _refused(drill["a"], drill["old_seal"])["code"] == "seal_revoked"


@pytest.mark.parametrize("where", ["a", "b"])
def test_objects_signed_before_t_pass_with_the_rule_named(drill, where) -> None:
    region = drill[where]
    before = drill["before"]
    report = region.verify(before["ses"], original=DOC)
    _passed_with_rule(report, "poe_before_compromise")
    anchor = [t for t in report["trust_path"] if t.get("trust_anchor")][-1]
    assert anchor["region"] == A and anchor["source"] == ("local" if where == "a" else "trust list"), anchor
    _passed_with_rule(region.verify(before["licence"]["pdf"]), "poe_before_compromise")
    report = region.verify_code(before["licence"]["code"])
    assert report["indication"] == "PASSED", _show(report)


@pytest.mark.parametrize("where", ["a", "b"])
def test_objects_the_old_key_signed_after_t_fail_revoked(drill, where) -> None:
    region = drill[where]
    _failed_revoked(region.verify(drill["after"]["ses"], original=DOC))
    _failed_revoked(region.verify(drill["after"]["licence"]["pdf"]))
    _failed_revoked(region.verify(drill["stolen"], original=DOC))
    report = region.verify(drill["stolen"], original=DOC)
    assert any(
        c["name"] == "signer.revocation_rule" and c["detail"].startswith("rule signed_after_revocation")
        for c in report["checks"]
    ), _show(report)
    # the re-issued version supersedes it: its code says so too
    code = region.verify_code(drill["after"]["licence"]["code"])
    assert code["indication"] == "FAILED" and code["sub_indication"] == "REVOKED", _show(code)


@pytest.mark.parametrize("where", ["a", "b"])
def test_objects_of_the_new_keys_pass(drill, where) -> None:
    region = drill[where]
    _passed_clean(region.verify(drill["new"]["ses"], original=DOC))
    _passed_clean(region.verify(drill["new"]["licence"]["pdf"]))
    _passed_clean(region.verify(drill["reissued_pdf"]))
    assert region.verify_code(drill["new"]["licence"]["code"])["indication"] == "PASSED"


def test_a_peer_sees_the_revocations_and_seal_statuses_in_the_list(drill) -> None:
    a = drill["a"]
    status, summary, _ = a.request("GET", "/api/v1/trust-list")
    assert status == 200
    from trustsvc.federation.trust_lists import content_of

    tl = content_of(summary)
    assert sorted(r.reason for r in tl.revoked or ()) == ["key_compromise", "superseded"]
    seals = {s.esid: s for s in tl.issuer(a.uscc).seals}
    assert seals[drill["old_seal"]].status == "revoked" and seals[drill["new_seal"]].status == "active"


def test_seal_suspend_and_revoke_here_and_at_the_peer(drill) -> None:
    a, b = drill["a"], drill["b"]
    esid = _seal(a, "江苏省市场监督管理局合同专用章")
    signed_before = _sign(a, esid)
    _next_second()
    status, shown, _ = a.request("POST", f"/api/v1/seals/{esid}/suspend", key=a.admin_key, body={"reason": "印章挂失"})
    assert status == 200 and shown["status"] == "suspended" and shown["trust_list"]["published"], shown
    assert _refused(a, esid)["code"] == "seal_suspended"
    _next_second()
    while_suspended = _forge(a, esid, first_key=False)  # whoever holds the seal signs anyway
    _next_second()
    status, shown, _ = a.request("POST", f"/api/v1/seals/{esid}/reinstate", key=a.admin_key, body={"reason": "找回"})
    assert status == 200 and shown["status"] == "active"
    reinstated = _sign(a, esid)
    _next_second()
    status, shown, _ = a.request("POST", f"/api/v1/seals/{esid}/revoke", key=a.admin_key, body={"reason": "注销"})
    assert status == 200 and [c["status"] for c in shown["changes"]] == ["suspended", "active", "revoked"]
    assert _refused(a, esid)["code"] == "seal_revoked"
    status, esl, _ = a.request("GET", f"/api/v1/seals/{esid}?format=esl")
    assert status == 200
    _refresh(b)
    for region in (a, b):
        report = region.verify(while_suspended, original=DOC)
        _failed_revoked(report)
        assert any(
            c["name"] == "seal.status" and c["detail"].startswith("rule seal_stopped_at_signing_time")
            for c in report["checks"]
        ), _show(report)
        _passed_with_rule(region.verify(signed_before, original=DOC), "poe_before_seal_stopped")
        _passed_with_rule(region.verify(reinstated, original=DOC), "poe_before_seal_stopped")
        seal_now = region.verify(bytes(esl))  # the seal itself, judged now: revoked
        assert seal_now["indication"] == "FAILED", _show(seal_now)
    status, listed, _ = a.request("GET", f"/api/v1/seals?department={a.uscc}&status=revoked", key=a.admin_key)
    assert status == 200 and esid in {s["esid"] for s in listed}
    assert base64.b64encode(bytes(esl))  # downloadable still: a revoked seal is history, not a secret
