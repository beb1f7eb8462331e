"""The dashboard's verification counts across two real regions (two ``trustsvc serve``
processes on SQLite): region B (220000) imports region A (320000) by pin, verifies A's licence
code and refreshes. B's verifiers check A's licences offline against A's status lists, so what
A sees is B's service fetching those lists, with B's region code in ``X-Trustsvc-Region``; A's
dashboard counts the fetches by region, exactly as many as A's access log shows. B's dashboard
counts A's licence verified at B (a peer region's licence verified here), A's counts its own
licence verified at A. Counts are flushed when a worker exits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fed_bodies import business_body
from federation_helpers import (
    issue_licence,
    make_region,
    open_region_service,
    region_pin,
    running,
    setup_region,
    stop,
)
from sqlalchemy import select

from trustsvc.dashboard import dashboard
from trustsvc.storage.models import Department

pytestmark = pytest.mark.slow

A, B = "320000", "220000"


def _figures(region, *, whole: bool):
    svc = open_region_service(region)
    try:
        with svc.db.reader() as s:
            return dashboard(s, list(s.scalars(select(Department.id))), whole_region=whole)
    finally:
        svc.close()


@pytest.fixture
def regions(tmp_path: Path) -> Iterator[tuple[object, object]]:
    a, b = make_region(tmp_path, A), make_region(tmp_path, B)
    for r in (a, b):
        setup_region(r)
    for _ in running([a, b]):
        yield a, b


def test_peer_fetches_and_verifications_reach_both_dashboards(regions) -> None:
    a, b = regions
    status, seal, _ = a.request(
        "POST", "/api/v1/seals", key=a.admin_key, body={"department": a.uscc, "name": "江苏省市场监督管理局"}
    )
    assert status == 201, seal
    lic = issue_licence(a, business_body())
    status, body, _ = b.request(
        "POST", "/api/v1/trust/peers", key=b.admin_key, body={"url": a.url, "pin": region_pin(a)}
    )
    assert status in (200, 201), body
    assert b.verify_code(lic["code"])["indication"] == "PASSED"  # at B, against A's held lists
    status, body, _ = b.request("POST", "/api/v1/trust/refresh", key=b.admin_key)
    assert status == 200, body
    assert a.verify_code(lic["code"])["indication"] == "PASSED"  # at A, its own licence
    for r in (a, b):
        stop(r)  # each worker flushes its counts as it exits

    fetched = sum(f"GET /api/v1/status/{a.uscc}" in line for line in a.output)
    assert fetched >= 2  # the import and the refresh each fetched A's department's list
    at_a = _figures(a, whole=False)
    assert {region: sum(series) for region, series in at_a.peer_fetches.items()} == {B: fetched}
    assert sum(at_a.verified_here) == 1
    at_b = _figures(b, whole=True)
    assert sum(at_b.verified_peer or []) == 1 and sum(at_b.verified_here) == 0 and at_b.peer_fetches == {}
