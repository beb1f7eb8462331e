"""The console dashboard at 1 million licences (``make bench``, section ``dashboard``).

Licence rows are written straight into ``licences`` in 20,000-row transactions (SQLite:
``executemany``; PostgreSQL, when a server answers: ``COPY``; synthetic: no seal, no audit), so the counting triggers of migration 0014 keep the
aggregates as they would for any writer: spread over the last 365 days across 4 departments
(55 % in the first) and 6 types; 97 % version 1, 3 % later versions; 2 % revoked, 1 %
suspended; a fifth with a last valid day in the past 2 years (so "expired" is counted). Per-day
verification counts (here, and status list fetches by 3 peer regions) fill 90 days.

Timed, median of 5 warm runs: the dashboard's queries (trustsvc.dashboard) for the largest
department and for the whole region, and the whole ``/console`` page (queries, SVG charts,
template) through Flask's test client; each against the same figure at 100,000 licences in the
same run (the reference: a ratio near 1 says the cost does not grow with the licences stored).
Also the price of counting one verification in memory (against one SM2 verification, the
floor of a verification), and the price on writes: rows per second of the last 100,000 rows written with the triggers,
against the next 100,000 with the triggers dropped.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import statistics
import time
from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import Table, func, insert, select, text

from api import create_app
from api.verification_counts import count_verification, verification_counter
from trustsvc import pki
from trustsvc.apikeys import create_api_key
from trustsvc.context import TrustService
from trustsvc.dashboard import dashboard
from trustsvc.dashboard_counts import (
    licence_active_until,
    licence_day_counts,
    licence_status_counts,
    verification_day_counts,
)
from trustsvc.formats.uscc import uscc_check_char
from trustsvc.storage.models import Department, LicenceRecord

from .domain import bench_service, postgres_database
from .harness import Result, rate

__all__ = ["results", "fill", "add_departments"]

TYPES = ("BL", "FB", "DL", "CP", "QC", "HC")
CHUNK = 20_000
SECTION = "Console dashboard"


def add_departments(svc: TrustService, count: int = 3) -> list[int]:
    """``count`` more departments; every department's id, oldest first."""
    for i in range(2, 2 + count):
        base = f"1132000{i}MB000000{i}"
        pki.add_department(svc, base + uscc_check_char(base), f"江苏省第{i}厅", actor="bench")
    with svc.db.reader() as s:
        return list(s.scalars(select(Department.id).order_by(Department.id)))


def _rows(rng: random.Random, dept_ids: list[int], start: int, stop: int, now: dt.datetime) -> list[dict[str, Any]]:
    today = now.date()
    rows = []
    for n in range(start, stop):
        dept = dept_ids[0] if rng.random() < 0.55 else rng.choice(dept_ids[1:])
        issued = now - dt.timedelta(seconds=rng.random() * 365 * 86400)
        roll = rng.random()
        status, changed = "active", None
        if roll < 0.02:
            status, changed = "revoked", issued + (now - issued) * rng.random()
        elif roll < 0.03:
            status, changed = "suspended", issued + (now - issued) * rng.random()
        until = today - dt.timedelta(days=rng.randrange(730)) if rng.random() < 0.2 else dt.date(2036, 1, 1)
        rows.append(
            {
                "identifier": f"1.2.156.3005.2.BENCH.{dept}.{n:011d}.001.0",
                "type_code": rng.choice(TYPES),
                "department_id": dept,
                "serial": f"{n:011d}",
                "version": 2 if rng.random() < 0.03 else 1,
                "status": status,
                "holder_name": "某某",
                "holder_id_type": "001",
                "holder_id": "X",
                "fields": {},
                "valid_from": issued.date(),
                "valid_until": until,
                "issued_at": issued,
                "status_changed_at": changed,
                "metadata_json": "{}",
                "metadata_signature": b"",
                "seal_esid": "bench",
                "status_index": n,
            }
        )
    return rows


def fill(svc: TrustService, dept_ids: list[int], start: int, stop: int, *, seed: int = 7) -> float:
    """Write licences ``start`` … ``stop - 1`` (SQLite: ``executemany``; PostgreSQL: ``COPY``);
    returns the seconds the writes took."""
    rng = random.Random(seed + start)
    now = dt.datetime.now(dt.UTC)
    spent = 0.0
    postgres = svc.db.write_engine.dialect.name == "postgresql"
    for lo in range(start, stop, CHUNK):
        rows = _rows(rng, dept_ids, lo, min(lo + CHUNK, stop), now)
        t = time.perf_counter()
        if postgres:
            _copy(svc, rows)
        else:
            with svc.db.transaction() as s:
                s.execute(insert(cast(Table, LicenceRecord.__table__)), rows)
        spent += time.perf_counter() - t
    return spent


def _copy(svc: TrustService, rows: list[dict[str, Any]]) -> None:
    cols = list(rows[0])
    raw = svc.db.write_engine.raw_connection()
    try:
        with raw.cursor() as cur, cur.copy(f"COPY licences ({', '.join(cols)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([json.dumps(v) if isinstance(v, dict) else v for v in row.values()])
        raw.commit()
    finally:
        raw.close()


def _verifications(svc: TrustService, seed: int = 11) -> None:
    rng = random.Random(seed)
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
    with svc.db.reader() as s:
        usccs = list(s.scalars(select(Department.uscc)))
    rows = []
    for back in range(90):
        day = today - dt.timedelta(days=back)
        for uscc in usccs:
            rows.append({"day": day, "issuer": uscc, "verifier": "", "channel": "verify", "n": rng.randrange(2000)})
            for peer in ("220000", "360000", "110000"):
                rows.append({"day": day, "issuer": uscc, "verifier": peer, "channel": "status_list", "n": 24})
        rows.append({"day": day, "issuer": "91110000MA00000000", "verifier": "", "channel": "verify", "n": 50})
    with svc.db.transaction() as s:
        s.execute(insert(verification_day_counts), rows)


def _median_ms(fn: Callable[[], object], runs: int = 5) -> float:
    fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def _timings(svc: TrustService, dept_ids: list[int], client: Any) -> dict[str, float]:
    def queries(ids: list[int], whole: bool) -> Callable[[], object]:
        def run() -> object:
            with svc.db.reader() as s:
                return dashboard(s, ids, whole_region=whole)

        return run

    def page() -> object:
        resp = client.get("/console")
        assert resp.status_code == 200, resp.status_code
        return resp

    return {
        "dashboard queries, largest department (55 % of the licences)": _median_ms(queries(dept_ids[:1], False)),
        "dashboard queries, whole region (4 departments)": _median_ms(queries(dept_ids, True)),
        "whole /console page (admin, whole region; test client)": _median_ms(page),
    }


def _aggregate_rows(svc: TrustService) -> int:
    """Rows of the aggregate tables (what the dashboard's queries read, at most)."""
    with svc.db.reader() as s:
        return sum(
            int(s.scalar(select(func.count()).select_from(t)) or 0)
            for t in (licence_day_counts, licence_status_counts, licence_active_until, verification_day_counts)
        )


def _drop_triggers(svc: TrustService) -> None:
    postgres = svc.db.write_engine.dialect.name == "postgresql"
    with svc.db.write_engine.begin() as conn:
        for what in ("insert", "update", "delete"):
            conn.execute(text(f"DROP TRIGGER trg_licences_counts_{what}" + (" ON licences" if postgres else "")))


def _measure(svc: TrustService, small: int, large: int, backend: str) -> list[Result]:
    dept_ids = add_departments(svc)
    _verifications(svc)
    with svc.db.transaction() as s:
        admin = create_api_key(s, role="admin", actor="bench").token
    client = create_app(service=svc, SECRET_KEY="bench-console-secret-" + "x" * 32).test_client()
    page = client.get("/console/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    client.post("/console/login", data={"csrf_token": token, "api_key": admin})

    fill(svc, dept_ids, 0, small)
    before = _timings(svc, dept_ids, client)
    rows_before = _aggregate_rows(svc)
    last = min(5 * CHUNK, (large - small) // 2)  # the write price: the last rows with triggers, the next without
    fill(svc, dept_ids, small, large - last)
    with_triggers = last / fill(svc, dept_ids, large - last, large)
    after = _timings(svc, dept_ids, client)
    rows_after = _aggregate_rows(svc)
    out = [
        Result(
            SECTION,
            name,
            ms,
            "ms",
            reference=f"the same at {small:,} licences",
            reference_value=before[name],
            target="< 300 ms",
            met=ms < 300,
            note=f"{backend}, {large:,} licences; aggregate rows {rows_after:,}, at {small:,}: {rows_before:,}",
        )
        for name, ms in after.items()
    ]
    _drop_triggers(svc)
    plain = last / fill(svc, dept_ids, large, large + last)
    how = "COPY" if backend == "PostgreSQL" else "executemany"
    out.append(
        Result(
            SECTION,
            f"licence rows written with {how}, counting triggers on",
            with_triggers,
            "rows/s",
            reference="the same, triggers dropped",
            reference_value=plain,
            note=f"{backend}, {last:,} rows at about {large:,} stored, {CHUNK:,} a transaction",
        )
    )
    return out


def _counting(svc: TrustService, raw_verify: float) -> Result:
    """What counting adds to a verification: one call as the verify view makes it."""
    app = create_app(service=svc)
    with svc.db.reader() as s:
        uscc = s.scalars(select(Department.uscc)).first() or ""
    report = {"object": {"licence": "x", "issuer": uscc}, "indication": "PASSED", "sub_indication": None}
    with app.test_request_context("/api/v1/verify", method="POST"):
        per_op = 1e6 / rate(lambda: count_verification(report))
        verification_counter().flush()
    return Result(
        SECTION,
        "counting one verification here (in memory, as the verify views do)",
        per_op,
        "µs",
        reference="one SM2 verification (openssl speed)",
        reference_value=1e6 / raw_verify if raw_verify else None,
        note="flushed to the table every 5 s by a thread of each worker",
    )


def results(*, raw_sign: float = 0, raw_verify: float = 0, quick: bool = False) -> list[Result]:
    small, large = (10_000, 100_000) if quick else (100_000, 1_000_000)
    with bench_service() as svc:
        out = _measure(svc, small, large, "SQLite")
        out.insert(0, _counting(svc, raw_verify))
    with postgres_database() as url:
        if url is not None:
            with bench_service(url) as svc:
                out += _measure(svc, small, large, "PostgreSQL")
    return out


if __name__ == "__main__":
    for r in results():
        print(r)
