"""The console dashboard's queries (trustsvc.dashboard) at 1 million licence rows.

The rows are written straight into the tables (synthetic: no seal, no chained audit hashes),
spread over the last 365 days across 4 departments and 6 licence types: 97 % version 1, 3 %
later versions; 2 % revoked, 1 % suspended (each with its audit event), and 200,000
``code.verify`` events over the last 90 days. Timed: the dashboard of the largest department
and of the whole region (every query of the page), median of 5 runs, warm cache.
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
import time
from typing import Any

from sqlalchemy import insert, select

from trustsvc import pki
from trustsvc.context import TrustService
from trustsvc.dashboard import dashboard
from trustsvc.formats.uscc import uscc_check_char
from trustsvc.storage.models import AuditEventRecord, Department, LicenceRecord

from .domain import bench_service
from .harness import Result

__all__ = ["results", "fill"]

TYPES = ("BL", "FB", "DL", "CP", "QC", "HC")


def fill(
    svc: TrustService,
    licences: int,
    verifications: int,
    *,
    seed: int = 7,
    days: int = 365,
    types: tuple[str, ...] = TYPES,
    departments: int = 3,
) -> None:
    """Write ``licences`` synthetic licence rows and their events (see the module docstring)."""
    rng = random.Random(seed)
    for i in range(2, 2 + departments):
        base = f"1132000{i}MB000000{i}"
        pki.add_department(svc, base + uscc_check_char(base), f"江苏省第{i}厅", actor="bench")
    with svc.db.reader() as s:
        dept_ids = list(s.scalars(select(Department.id).order_by(Department.id)))
    now = dt.datetime.now(dt.UTC)
    seq = 10_000_000
    chunk = 20_000
    index = dict.fromkeys(dept_ids, 0)
    for start in range(0, licences, chunk):
        rows: list[dict[str, Any]] = []
        audit: list[dict[str, Any]] = []
        for n in range(start, min(start + chunk, licences)):
            dept = dept_ids[0] if rng.random() < 0.55 else rng.choice(dept_ids[1:])
            index[dept] += 1
            issued = now - dt.timedelta(seconds=rng.random() * days * 86400)
            roll = rng.random()
            status, changed = "active", None
            if roll < 0.02:
                status, changed = "revoked", issued + (now - issued) * rng.random()
            elif roll < 0.03:
                status, changed = "suspended", issued + (now - issued) * rng.random()
            ident = f"1.2.156.3005.2.BENCH.{dept}.{n:011d}.001.0"
            rows.append(
                {
                    "identifier": ident,
                    "type_code": rng.choice(types),
                    "department_id": dept,
                    "serial": f"{n:011d}",
                    "version": 2 if rng.random() < 0.03 else 1,
                    "status": status,
                    "holder_name": "某某",
                    "holder_id_type": "001",
                    "holder_id": "X",
                    "fields": {},
                    "valid_from": issued.date(),
                    "valid_until": None,
                    "issued_at": issued,
                    "status_changed_at": changed,
                    "metadata_json": "{}",
                    "metadata_signature": b"",
                    "seal_esid": "bench",
                    "status_index": index[dept],
                }
            )
            if status == "suspended" and changed is not None:
                seq += 1
                audit.append(_event(seq, changed, "licence.suspend", ident))
        with svc.db.transaction() as s:
            s.execute(insert(LicenceRecord), rows)
            if audit:
                s.execute(insert(AuditEventRecord), audit)
    with svc.db.reader() as s:
        recent = list(s.scalars(select(LicenceRecord.identifier).limit(50_000)))
    for start in range(0, verifications, chunk):
        audit = []
        for _ in range(start, min(start + chunk, verifications)):
            seq += 1
            at = now - dt.timedelta(seconds=rng.random() * 90 * 86400)
            audit.append(_event(seq, at, "code.verify", rng.choice(recent) if rng.random() < 0.9 else "peer"))
        with svc.db.transaction() as s:
            s.execute(insert(AuditEventRecord), audit)


def _event(seq: int, at: dt.datetime, action: str, object_id: str) -> dict[str, Any]:
    return {
        "seq": seq,
        "ts": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor": "bench",
        "action": action,
        "object_type": "licence",
        "object_id": object_id,
        "key_ref": "",
        "details": "{}",
        "prev_hash": "",
        "hash": f"{seq:064d}",
    }


def _median_ms(fn: Any, runs: int = 5) -> float:
    fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def results(*, raw_sign: float = 0, raw_verify: float = 0, quick: bool = False) -> list[Result]:
    licences = 100_000 if quick else 1_000_000
    out = []
    with bench_service() as svc:
        fill(svc, licences, licences // 5)
        with svc.db.reader() as s:
            dept_ids = list(s.scalars(select(Department.id).order_by(Department.id)))
        for label, ids, whole in (
            ("largest department (55 %)", dept_ids[:1], False),
            ("whole region, 4 departments", dept_ids, True),
        ):

            def run(ids: list[int] = ids, whole: bool = whole) -> None:
                with svc.db.reader() as s:
                    dashboard(s, ids, whole_region=whole)

            ms = _median_ms(run)
            out.append(
                Result(
                    "Console dashboard",
                    f"dashboard queries, {label}",
                    ms,
                    "ms",
                    target="< 300 ms",
                    met=ms < 300,
                    note=f"SQLite, {licences:,} licences, {licences // 5:,} verifications",
                )
            )
    return out


if __name__ == "__main__":
    for r in results():
        print(r)
