"""Three regions, three real `trustsvc serve` processes (issue 6): 320000, 220000 and 360000 each
with its own home, SQLite database and key store; each imports the other two by pin over HTTP.

The steps share one set of servers and run in order (each test builds on the state the
previous one left: revocation, rotation, refusals, authorisation).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fed_bodies import business_body, food_body
from federation_helpers import PIN, REGIONS, Region, make_region, running

from trustsvc.licences.catalogue import BUSINESS_LICENCE, FOOD_BUSINESS_LICENCE, NATIONAL_TYPES

pytestmark = pytest.mark.slow  # starts servers in subprocesses

A, B, C = "320000", "220000", "360000"
DOCUMENT = "跨省通办 — a document sealed in one region and verified in the others".encode()


def _setup(region: Region) -> None:
    """`trustsvc init`, `department add`, an admin key: through the CLI, before serving."""
    name, _, dept_name = REGIONS[region.code]
    region.cli("init", "--region", region.code, "--name", name)
    region.cli("department", "add", "--code", region.uscc, "--name", dept_name)
    region.admin_key = (
        region.cli("apikey", "create", "--role", "admin", "--label", "federation test").stdout.decode().strip()
    )


def _pin(region: Region) -> str:
    return region.cli("trust", "pin").stdout.decode().strip()


def _issue(region: Region, body: dict[str, Any]) -> dict[str, Any]:
    status, lic, _ = region.request(
        "POST", "/api/v1/licences", body={**body, "department": region.uscc}, key=region.admin_key
    )
    assert status == 201, lic
    ident = lic["id"]
    status, pdf, _ = region.request("GET", f"/api/v1/licences/{ident}/file", key=region.admin_key)
    assert status == 200, pdf
    status, code, _ = region.request("GET", f"/api/v1/licences/{ident}/code", key=region.admin_key)
    assert status == 200, code
    return {"id": ident, "pdf": pdf, "code": code.decode()}


def _artefacts(region: Region) -> dict[str, Any]:
    status, seal, _ = region.request(
        "POST",
        "/api/v1/seals",
        key=region.admin_key,
        body={"department": region.uscc, "name": f"{REGIONS[region.code][2]}证照专用章"},
    )
    assert status == 201, seal
    esid = seal["esid"]
    status, esl, _ = region.request("GET", f"/api/v1/seals/{esid}?format=esl")
    assert status == 200
    status, ses, _ = region.request(
        "POST",
        f"/api/v1/seals/{esid}/sign?format=der",
        raw=DOCUMENT,
        key=region.admin_key,
        content_type="application/octet-stream",
    )
    assert status == 200, ses
    return {
        "esid": esid,
        "esl": esl,
        "ses": ses,
        "business": _issue(region, business_body()),
        "food": _issue(region, food_body()),
    }


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("federation")
    regions = {code: make_region(base, code) for code in (A, B, C)}
    # B relies on a peer list not a second past its next_update (grace 0), so a stale list can be made
    regions[B].env["TRUSTSVC_TRUST_GRACE"] = "0"
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(_setup, regions.values()))
        pins = dict(zip(regions, pool.map(_pin, regions.values())))
    for _ in running(list(regions.values())):
        with ThreadPoolExecutor(3) as pool:
            made = dict(zip(regions, pool.map(_artefacts, regions.values())))
        # the first list each region publishes, kept to replay later
        first_lists = {code: r.request("GET", "/api/v1/trust-list")[1] for code, r in regions.items()}
        yield {"regions": regions, "pins": pins, "made": made, "first_lists": first_lists, "base": base}


def _import(cluster: dict[str, Any], importer: str, peer: str) -> tuple[int, Any]:
    r, p = cluster["regions"][importer], cluster["regions"][peer]
    status, body, _ = r.request(
        "POST", "/api/v1/trust/peers", key=r.admin_key, body={"url": p.url, "pin": cluster["pins"][peer]}
    )
    return status, body


def _peer(cluster: dict[str, Any], importer: str, peer: str) -> dict[str, Any]:
    r = cluster["regions"][importer]
    status, peers, _ = r.request("GET", "/api/v1/trust/peers", key=r.admin_key)
    assert status == 200
    return next(p for p in peers if p["region"]["code"] == peer)


def _anchor(report: dict[str, Any]) -> dict[str, Any]:
    anchors = [t for t in report["trust_path"] if t.get("trust_anchor")]
    assert anchors, report
    return anchors[-1]


def _assert_passed_via(report: dict[str, Any], region: str, sequence: int) -> None:
    assert report["indication"] == "PASSED", json.dumps(report, ensure_ascii=False, indent=1)[:4000]
    anchor = _anchor(report)
    assert anchor["region"] == region and anchor["source"] == "trust list", anchor
    assert anchor["list_sequence"] == sequence, anchor


def _failed_check(report: dict[str, Any], name: str) -> dict[str, Any]:
    hit = [c for c in report["checks"] if c["name"] == name and c["result"] == "failed"]
    assert hit, json.dumps(report, ensure_ascii=False, indent=1)[:4000]
    return hit[0]


def test_each_region_imports_the_other_two_by_pin(cluster) -> None:
    for importer in (A, B, C):
        for peer in (A, B, C):
            if peer == importer:
                continue
            status, body = _import(cluster, importer, peer)
            assert status == 201, body
            assert body["outcome"] == "imported" and body["region"] == peer
            assert body["status_lists"] == 1  # the peer's department's signed status list, verified and held
            assert body["peer"]["pin"] == cluster["pins"][peer] and body["peer"]["stale"] is False
    # the published list names the issuer, its types and URLs, and is cacheable
    r = cluster["regions"][A]
    status, summary, headers = r.request("GET", "/api/v1/trust-list?format=json")
    assert status == 200 and summary["region"]["code"] == A
    issuer = summary["issuers"][0]
    # a department with no grants of its own may sign every type of the region's catalogue (here
    # the shipped national one), the two this test issues among them
    assert issuer["uscc"] == r.uscc and issuer["licence_types"] == sorted(t.code for t in NATIONAL_TYPES)
    assert {BUSINESS_LICENCE.code, FOOD_BUSINESS_LICENCE.code} <= set(issuer["licence_types"])
    assert issuer["status_list_url"] == f"{r.url}/api/v1/status/{r.uscc}"
    status, der, headers = r.request("GET", "/api/v1/trust-list")
    assert status == 200 and headers["Content-Type"] == "application/cms"
    assert headers["ETag"].strip('"') == hashlib.sha256(der).hexdigest() and "max-age" in headers["Cache-Control"]


def test_everything_from_each_region_verifies_in_the_other_two(cluster) -> None:
    regions, made = cluster["regions"], cluster["made"]
    for issuer in (A, B, C):
        for verifier in (A, B, C):
            if verifier == issuer:
                continue
            v = regions[verifier]
            seq = _peer(cluster, verifier, issuer)["sequence"]
            art = made[issuer]
            for kind in ("business", "food"):
                _assert_passed_via(v.verify(art[kind]["pdf"]), issuer, seq)
                report = v.verify_code(art[kind]["code"])
                _assert_passed_via(report, issuer, seq)
                assert report["status_now"]["licence"]["status"] == "active"
            report = v.verify(art["esl"])
            _assert_passed_via(report, issuer, seq)
            _assert_passed_via(v.verify(art["ses"], original=DOCUMENT), issuer, seq)


def test_a_licence_revoked_in_a_shows_revoked_in_b_after_b_refreshes(cluster) -> None:
    a, b = cluster["regions"][A], cluster["regions"][B]
    lic = cluster["made"][A]["business"]
    status, body, _ = a.request(
        "POST", f"/api/v1/licences/{lic['id']}/revoke", key=a.admin_key, body={"reason": "吊销 (federation test)"}
    )
    assert status == 200 and body["status"] == "revoked"
    before = b.verify(lic["pdf"])
    assert before["indication"] == "PASSED"  # B still holds the status list it fetched earlier
    status, outcomes, _ = b.request("POST", "/api/v1/trust/refresh", key=b.admin_key)
    assert status == 200 and {o["region"]: o["outcome"] for o in outcomes} == {A: "unchanged", C: "unchanged"}
    after = b.verify(lic["pdf"])
    assert (after["indication"], after["sub_indication"]) == ("FAILED", "REVOKED"), after
    assert "status list" in _failed_check(after, "licence.status")["detail"]
    code_report = b.verify_code(lic["code"])
    assert (code_report["indication"], code_report["sub_indication"]) == ("FAILED", "REVOKED")
    # C has not refreshed: it still says what the list it holds says
    assert cluster["regions"][C].verify(lic["pdf"])["indication"] == "PASSED"


def test_a_rotates_its_signers_and_b_keeps_verifying_new_codes(cluster) -> None:
    a, b, c = (cluster["regions"][x] for x in (A, B, C))
    held_before = _peer(cluster, B, A)["sequence"]
    announced = json.loads(a.cli("trust", "rotate-signer").stdout)
    assert announced["step"] == "announced" and announced["announced"]
    assert b.request("POST", "/api/v1/trust/refresh", key=b.admin_key)[0] == 200  # B sees the announcement
    activated = json.loads(a.cli("trust", "rotate-signer").stdout)
    assert activated["step"] == "activated" and activated["current"] == announced["announced"]
    rotated = json.loads(a.cli("code", "rotate-signer").stdout)
    assert rotated["step"] == "rotated" and rotated["retired"] != rotated["current"]
    status, outcomes, _ = b.request("POST", "/api/v1/trust/refresh", key=b.admin_key)
    outcome = {o["region"]: o for o in outcomes}[A]
    assert outcome["outcome"] == "updated", outcomes  # signed by the announced signer: followed, no re-pin
    held = _peer(cluster, B, A)
    assert held["sequence"] > held_before and held["status"] == "ok"
    # a code made after the rotation is signed by the new key, and B verifies it
    food = cluster["made"][A]["food"]
    status, dyn, _ = a.request("POST", f"/api/v1/licences/{food['id']}/codes", key=a.admin_key)
    assert status == 201, dyn
    new_report = b.verify_code(dyn["code"])
    _assert_passed_via(new_report, A, held["sequence"])
    old_report = b.verify_code(food["code"])  # made by the retired signer, still listed
    _assert_passed_via(old_report, A, held["sequence"])
    assert new_report["object"]["kid"] != old_report["object"]["kid"]
    # C missed the announcement: its refresh refuses the list, then an explicit re-import by pin follows
    status, outcomes, _ = c.request("POST", "/api/v1/trust/refresh", key=c.admin_key)
    refused = {o["region"]: o for o in outcomes}[A]
    assert refused["outcome"] == "refused" and refused["message"].startswith("trust_list_signer_not_announced")
    assert _peer(cluster, C, A)["status"] == "refused"
    status, body = _import(cluster, C, A)
    assert status == 200 and body["outcome"] == "updated", body
    _assert_passed_via(c.verify_code(dyn["code"]), A, _peer(cluster, C, A)["sequence"])


def _sign_list(
    region: Region,
    *,
    signer_home: Region | None = None,
    sequence_bump: int = 0,
    issued: dt.datetime | None = None,
    lifetime: dt.timedelta = dt.timedelta(days=1),
) -> bytes:
    """Sign region's list entries ourselves (the test holds the PINs): with another region's
    trust-list signer, or back-dated."""
    from trustsvc.config import load_config
    from trustsvc.context import open_service
    from trustsvc.federation.trust_lists import sign_trust_list, trust_list_entries
    from trustsvc.storage.models import TrustListRecord

    env = {"TRUSTSVC_HOME": str(region.home), "TRUSTSVC_HSM_PIN": PIN}
    svc = open_service(load_config(env), env)
    try:
        with svc.db.reader() as session:
            now = dt.datetime.now(dt.UTC).replace(microsecond=0)
            entries = trust_list_entries(svc, session, now)
            top = max(r.sequence for r in session.query(TrustListRecord).all())
        issued = issued or now
        if signer_home is None:
            with svc.db.reader() as session:
                der, _ = sign_trust_list(
                    svc, session, entries, sequence=top + sequence_bump, issued_at=issued, next_update=issued + lifetime
                )
            return der
    finally:
        svc.close()
    other_env = {"TRUSTSVC_HOME": str(signer_home.home), "TRUSTSVC_HSM_PIN": PIN}
    other = open_service(load_config(other_env), other_env)
    try:
        with other.db.reader() as session:
            der, _ = sign_trust_list(
                other, session, entries, sequence=top + sequence_bump, issued_at=issued, next_update=issued + lifetime
            )
        return der
    finally:
        other.close()


def _cli_import_error(region: Region, path: Path, pin: str) -> str:
    done = region.cli("trust", "import", str(path), "--pin", pin, check=False)
    assert done.returncode == 1, done.stdout
    return done.stderr.decode()


def test_refused_lists_change_nothing(cluster) -> None:
    regions, pins, base = cluster["regions"], cluster["pins"], cluster["base"]
    a, b = regions[A], regions[B]
    held = _peer(cluster, B, A)
    # the wrong pin (C's) for A's list
    status, body, _ = b.request("POST", "/api/v1/trust/peers", key=b.admin_key, body={"url": a.url, "pin": pins[C]})
    assert status == 422 and body["error"]["code"] == "trust_list_pin_mismatch", body
    # A's entries signed by a key the pinned root never certified (C's trust-list signer)
    forged = base / "forged.cms"
    forged.write_bytes(_sign_list(a, signer_home=regions[C], sequence_bump=5))
    assert "error: trust_list_signer_untrusted:" in _cli_import_error(b, forged, pins[A])
    # A's first list, replayed
    replay = base / "replay.cms"
    replay.write_bytes(cluster["first_lists"][A])
    assert "error: trust_list_rollback:" in _cli_import_error(b, replay, pins[A])
    # a list properly signed by A, but past its next_update plus B's grace (0 s)
    stale = base / "stale.cms"
    issued = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(seconds=60)
    stale.write_bytes(_sign_list(a, sequence_bump=10, issued=issued, lifetime=dt.timedelta(seconds=30)))
    assert "error: trust_list_stale:" in _cli_import_error(b, stale, pins[A])
    after = _peer(cluster, B, A)
    assert (after["sequence"], after["source"], after["pin"]) == (held["sequence"], held["source"], held["pin"])


def test_an_issuer_signing_a_type_outside_its_listed_types_fails_in_the_peer(cluster) -> None:
    regions, made = cluster["regions"], cluster["made"]
    a, c = regions[A], regions[C]
    from trustsvc.licences.catalogue import BUSINESS_LICENCE, FOOD_BUSINESS_LICENCE

    listed = json.loads(c.cli("trust", "authorise", c.uscc, "--types", BUSINESS_LICENCE.code).stdout)
    assert listed["licence_types"] == [BUSINESS_LICENCE.code]
    _status, outcomes, _ = a.request("POST", "/api/v1/trust/refresh", key=a.admin_key)
    assert {o["region"]: o["outcome"] for o in outcomes}[C] == "updated"
    food = made[C]["food"]
    for report in (a.verify(food["pdf"]), a.verify_code(food["code"])):
        assert (report["indication"], report["sub_indication"]) == ("FAILED", "SIG_CONSTRAINTS_FAILURE"), report
        detail = _failed_check(report, "licence.authorisation")["detail"]
        assert FOOD_BUSINESS_LICENCE.code in detail and c.uscc in detail and "360000" in detail
    # the type it is listed for still verifies
    _assert_passed_via(a.verify(made[C]["business"]["pdf"]), C, _peer(cluster, A, C)["sequence"])
