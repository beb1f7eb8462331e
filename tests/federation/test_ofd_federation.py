"""A licence OFD across regions, between two real `trustsvc serve` processes: region B verifies
region A's sealed OFD PASSED once it imported A's trust list by pin (the issuer comes from the
identifier in the OFD's sealed metadata: A's namespace), and FAILED / REVOKED once A revoked the
licence and B refreshed A's list."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fed_bodies import business_body
from federation_helpers import REGIONS, Region, make_region, region_pin, running, setup_region

pytestmark = pytest.mark.slow  # starts servers in subprocesses

A, B = "320000", "220000"


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("ofd-federation")
    regions = {code: make_region(base, code) for code in (A, B)}
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(setup_region, regions.values()))
        pins = dict(zip(regions, pool.map(region_pin, regions.values()), strict=True))
    for _ in running(list(regions.values())):
        yield {"regions": regions, "pins": pins}


def _issue_ofd(region: Region) -> tuple[str, bytes]:
    status, seal, _ = region.request(
        "POST",
        "/api/v1/seals",
        key=region.admin_key,
        body={"department": region.uscc, "name": f"{REGIONS[region.code][2]}证照专用章"},
    )
    assert status == 201, seal
    status, lic, _ = region.request(
        "POST", "/api/v1/licences", key=region.admin_key, body={**business_body(), "department": region.uscc}
    )
    assert status == 201, lic
    status, ofd, headers = region.request("GET", f"/api/v1/licences/{lic['id']}/file?format=ofd", key=region.admin_key)
    assert status == 200 and headers["Content-Type"] == "application/ofd", ofd
    return lic["id"], ofd


def _show(report: dict[str, Any]) -> str:
    return json.dumps(report, ensure_ascii=False, indent=1)[:4000]


def test_b_verifies_a_s_ofd_after_import_and_fails_it_after_a_revokes_and_b_refreshes(pair) -> None:
    a, b = pair["regions"][A], pair["regions"][B]
    ident, ofd = _issue_ofd(a)
    assert a.verify(ofd)["indication"] == "PASSED"
    # before B imports A's list, nobody in B vouches for A's department
    unknown = b.verify(ofd)
    assert unknown["indication"] != "PASSED", _show(unknown)
    status, body, _ = b.request(
        "POST", "/api/v1/trust/peers", key=b.admin_key, body={"url": a.url, "pin": pair["pins"][A]}
    )
    assert status == 201, body
    report = b.verify(ofd)
    assert report["indication"] == "PASSED", _show(report)
    assert report["object"]["kind"] == "ofd" and report["object"]["identifier"] == ident
    anchors = [t for t in report["trust_path"] if t.get("trust_anchor")]
    assert anchors and anchors[-1]["region"] == A and anchors[-1]["source"] == "trust list", anchors
    assert report["status_now"]["licence"]["status"] == "active"
    status, body, _ = a.request(
        "POST", f"/api/v1/licences/{ident}/revoke", key=a.admin_key, body={"reason": "吊销 (OFD federation test)"}
    )
    assert status == 200 and body["status"] == "revoked"
    assert b.verify(ofd)["indication"] == "PASSED"  # B still holds the status list it fetched earlier
    status, outcomes, _ = b.request("POST", "/api/v1/trust/refresh", key=b.admin_key)
    assert status == 200, outcomes
    after = b.verify(ofd)
    assert (after["indication"], after["sub_indication"]) == ("FAILED", "REVOKED"), _show(after)
    failed = [c for c in after["checks"] if c["name"] == "licence.status" and c["result"] == "failed"]
    assert failed and "status list" in failed[0]["detail"]
