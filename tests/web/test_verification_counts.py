"""Verification counts for the dashboard (trustsvc.verification_counter): held in memory per
process, written on flush, bounded and shape-checked (a peer's region header is nobody's
proof); a peer region's status list fetch counted by the region it names, shown on the
dashboard. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import html
import re

from console_helpers import login
from sqlalchemy import func, select

from trustsvc.dashboard import china_day, dashboard
from trustsvc.dashboard_counts import Channel, verification_day_counts
from trustsvc.federation.peers import REGION_HEADER
from trustsvc.storage.models import Department
from trustsvc.verification_counter import VerificationCounter

DEPT = "11320000MB0000001G"
OTHER = "91110000MA00000000"  # a peer region's issuer (shape only)


def _rows(service) -> dict[tuple[str, str, str], int]:
    t = verification_day_counts.c
    with service.db.reader() as s:
        q = select(t.issuer, t.verifier, t.channel, func.sum(t.n)).group_by(t.issuer, t.verifier, t.channel)
        return {(i, v, c): int(n) for i, v, c, n in s.execute(q)}


def test_counts_wait_in_memory_until_flushed_and_add_up(service) -> None:
    counter = VerificationCounter(service.db)
    for _ in range(3):
        assert counter.add(DEPT)
    assert counter.add(DEPT, verifier="220000", channel=Channel.STATUS_LIST)
    assert _rows(service) == {}  # nothing written on the counting path
    assert counter.pending() == 4
    assert counter.flush() == 2 and counter.pending() == 0
    counter.add(DEPT)
    counter.flush()  # a second flush adds to the same row
    assert _rows(service) == {(DEPT, "", "verify"): 4, (DEPT, "220000", "status_list"): 1}


def test_values_of_the_wrong_shape_and_keys_beyond_the_cap_are_dropped(service) -> None:
    counter = VerificationCounter(service.db, max_keys=2)
    assert not counter.add("not-a-uscc")
    assert not counter.add(DEPT, verifier="<script>")
    assert not counter.add(DEPT, verifier="9" * 40)
    assert counter.add(DEPT, verifier="220000", channel=Channel.STATUS_LIST)
    assert counter.add(DEPT, verifier="360000", channel=Channel.STATUS_LIST)
    assert not counter.add(DEPT, verifier="110000", channel=Channel.STATUS_LIST)  # a third key: over the cap
    assert counter.add(DEPT, verifier="220000", channel=Channel.STATUS_LIST)  # a held key still counts
    counter.flush()
    assert _rows(service) == {(DEPT, "220000", "status_list"): 2, (DEPT, "360000", "status_list"): 1}


def test_a_count_falls_on_its_china_day(service) -> None:
    counter = VerificationCounter(service.db)
    at = dt.datetime(2026, 12, 5, 16, 30, tzinfo=dt.UTC)  # 00:30 on the 6th in China
    counter.add(DEPT, now=at.timestamp())
    counter.flush()
    with service.db.reader() as s:
        assert s.scalar(select(verification_day_counts.c.day)) == china_day(at) == dt.date(2026, 12, 6)


def test_a_failed_flush_keeps_the_counts(service, monkeypatch) -> None:
    counter = VerificationCounter(service.db)
    counter.add(DEPT)
    real = service.db.transaction

    def broken():
        raise OSError("database away")

    monkeypatch.setattr(service.db, "transaction", broken)
    assert counter.flush() == 0 and counter.pending() == 1
    monkeypatch.setattr(service.db, "transaction", real)
    assert counter.flush() == 1 and _rows(service) == {(DEPT, "", "verify"): 1}


def test_peer_status_list_fetches_are_counted_by_region_and_shown(service, console_client, keys) -> None:
    client = console_client
    for region, times in (("220000", 2), ("360000", 1)):
        for _ in range(times):
            resp = client.get(f"/api/v1/status/{DEPT}", headers={REGION_HEADER: region})
            assert resp.status_code == 200
    assert client.get(f"/api/v1/status/{DEPT}").status_code == 200  # no header: not a peer
    assert client.get(f"/api/v1/status/{DEPT}", headers={REGION_HEADER: "320000"}).status_code == 200  # ourselves
    assert client.get(f"/api/v1/status/{DEPT}", headers={REGION_HEADER: "x' OR 1=1"}).status_code == 200
    login(client, keys["issuer"])
    page = html.unescape(client.get("/console").get_data(as_text=True))
    shown = {
        m.group(1): int(m.group(2)) for m in re.finditer(r'data-region="(\d+)">.*?data-kind="days90">(\d+)<', page)
    }
    assert shown == {"220000": 2, "360000": 1}
    assert _rows(service) == {(DEPT, "220000", "status_list"): 2, (DEPT, "360000", "status_list"): 1}


def test_whole_region_counts_peer_licences_verified_here(service) -> None:
    counter = VerificationCounter(service.db)
    for issuer, n in ((DEPT, 2), (OTHER, 3)):
        for _ in range(n):
            counter.add(issuer)
    counter.flush()
    with service.db.reader() as s:
        ids = list(s.scalars(select(Department.id)))
        region = dashboard(s, ids, whole_region=True)
        one = dashboard(s, ids)
    assert (region.total(region.verified_here), region.total(region.verified_peer or [])) == (2, 3)
    assert one.total(one.verified_here) == 2 and one.verified_peer is None
