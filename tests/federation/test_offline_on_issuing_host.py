"""Offline verification on the issuing host (issue 13, "status lists are published on change").

One real `trustsvc serve` (region 320000). Right after a licence is issued over the API,
`trustsvc verify CODE` on the same host (offline: the database's certificates and the stored
signed status lists, no HTTP) says PASSED; right after `POST /licences/{id}/revoke` it says
FAILED / REVOKED. Nobody GETs the status list in between: the change itself must make the
issuer's new signed list.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fed_bodies import business_body, food_body
from federation_helpers import REGIONS, Region, dynamic_code, issue_licence, make_region, running, setup_region

pytestmark = pytest.mark.slow

A = "320000"


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Region]:
    r = make_region(tmp_path_factory.mktemp("offline"), A)
    setup_region(r)
    for _ in running([r]):
        status, seal, _ = r.request(
            "POST", "/api/v1/seals", key=r.admin_key, body={"department": r.uscc, "name": f"{REGIONS[A][2]}证照专用章"}
        )
        assert status == 201, seal
        yield r


def _offline(region: Region, target: str) -> tuple[int, dict[str, Any]]:
    """`trustsvc verify TARGET --json` on the issuing host: (exit code, report)."""
    done = region.cli("verify", target, "--json", check=False)
    try:
        report = json.loads(done.stdout)
    except ValueError:
        pytest.fail(
            f"`trustsvc verify` exited {done.returncode} without a JSON report:\n"
            f"{done.stdout.decode(errors='replace')}\n{done.stderr.decode(errors='replace')}"
        )
    return done.returncode, report


def _summary(report: dict[str, Any]) -> str:
    failed = [f"{c['name']}: {c['detail'][:200]}" for c in report["checks"] if c["result"] != "passed"]
    return (
        f"{report['indication']}/{report['sub_indication']}: {report.get('message')!r}; "
        f"status_now={json.dumps(report.get('status_now'), ensure_ascii=False)}; not passed: {failed}"
    )


@pytest.mark.parametrize("body", [business_body, food_body], ids=["business", "food"])
def test_offline_verification_right_after_issuance_and_right_after_revocation(
    region: Region, body: Any, tmp_path: Path
) -> None:
    lic = issue_licence(region, body())
    pdf = tmp_path / "licence.pdf"
    pdf.write_bytes(lic["pdf"])
    dyn = dynamic_code(region, lic["id"])
    # right after issuance: PASSED offline, for the static and the dynamic code and the PDF
    for label, target in (("static code", lic["code"]), ("dynamic code", dyn), ("licence PDF", str(pdf))):
        rc, report = _offline(region, target)
        assert (rc, report["indication"]) == (0, "PASSED"), f"{label} right after issuance: {_summary(report)}"
    # revoked over the API; nobody fetches the status list
    status, revoked, _ = region.request(
        "POST",
        f"/api/v1/licences/{lic['id']}/revoke",
        key=region.admin_key,
        body={"reason": "吊销 (offline verification test)"},
    )
    assert status == 200 and revoked["status"] == "revoked", revoked
    for label, target in (("static code", lic["code"]), ("dynamic code", dyn), ("licence PDF", str(pdf))):
        rc, report = _offline(region, target)
        assert (rc, report["indication"], report["sub_indication"]) == (1, "FAILED", "REVOKED"), (
            f"{label} right after revocation: {_summary(report)}"
        )
