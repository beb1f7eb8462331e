"""8 threads × 50 issuances at once on SQLite and PostgreSQL: every licence lands, identifiers,
serials and status indexes are unique, and the audit chain stays intact."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from licence_helpers import business_body
from sqlalchemy import select

from trustsvc.apikeys import Principal, Role
from trustsvc.audit import verify_chain
from trustsvc.licences.catalogue import BUSINESS_LICENCE
from trustsvc.licences.identifier import parse_identifier
from trustsvc.licences.service import issue_licence, request_from_json
from trustsvc.storage.models import AuditEventRecord, LicenceRecord

THREADS = 8
PER_THREAD = 50


def test_concurrent_issuance_loses_nothing_and_duplicates_nothing(service, seal) -> None:
    issuer = Principal("k", Role.ISSUER, "11320000MB0000001G", (BUSINESS_LICENCE.code,))
    request = request_from_json(business_body())
    start = threading.Barrier(THREADS)

    def worker(n: int) -> list[str]:
        start.wait()
        out = []
        for i in range(PER_THREAD):
            # every other request carries an idempotency key, so both paths race
            key = f"t{n}-{i}" if i % 2 else None
            # the full path, TSA time-stamp included (~11 s SQLite, ~14 s PostgreSQL here)
            out.append(issue_licence(service, request, principal_or_actor=issuer, idempotency_key=key).identifier)
        return out

    began = time.monotonic()
    with ThreadPoolExecutor(THREADS) as pool:
        results = [ident for chunk in pool.map(worker, range(THREADS)) for ident in chunk]
    elapsed = time.monotonic() - began
    total = THREADS * PER_THREAD
    assert len(results) == total and len(set(results)) == total
    with service.db.reader() as s:
        rows = s.execute(select(LicenceRecord)).unique().scalars().all()
        issue_events = (
            s.execute(select(AuditEventRecord).where(AuditEventRecord.action == "licence.issue")).scalars().all()
        )
        chain = verify_chain(s)
    assert len(rows) == total
    assert {r.identifier for r in rows} == set(results)
    serials = sorted(r.serial for r in rows)
    assert len(set(serials)) == total
    assert [int(s[4:]) for s in serials] == list(range(1, total + 1))  # no gaps, no duplicates
    assert sorted(r.status_index for r in rows) == list(range(total))
    assert all(parse_identifier(r.identifier).serial == r.serial for r in rows)
    assert len(issue_events) == total
    assert chain.ok, chain.as_dict()
    assert elapsed < 60, f"{total} issuances took {elapsed:.1f}s"
