"""The service under gunicorn with 3 workers on PostgreSQL, hammered from many client threads.

1. 6 threads issue 8 licences each at once (every answer 201);
2. each thread then drives its own licences through seeded random suspend / reinstate /
   revoke / renew (a renewal adds the new version to the thread's set) while the others do the
   same and a reader keeps fetching the status list (so lists are re-signed by all workers
   amid the changes). Each answer is the one the licence's state allows: 200/201, or 409
   ``invalid_transition``;
3. races on one licence: 6 threads renew it at once (one 201), 6 suspend it at once (one 200),
   6 revoke it at once (one 200); the losers get 409.

Afterwards: identifiers, serials, versions and status indexes are unique (indexes gap-free),
status-list sequences are unique and gap-free, the audit chain verifies, every licence's status
(in the database and over the API) is the state its last acknowledged transition left it in,
and the issuer's signed status list, fetched and verified against the region root, agrees with
the database for every licence: revocation bit ⇔ revoked or superseded, suspension bit ⇔
suspended.
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from server_kit import DEPT, Home, Server, bearer, business_body, call, prepare_home, run_cli, start_server
from sqlalchemy import select

from trustsvc.audit import verify_chain
from trustsvc.formats.trust import TrustContext
from trustsvc.status_lists import verify_status_list
from trustsvc.storage import Database
from trustsvc.storage.models import LicenceRecord, StatusListRecord

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

WORKERS = 3
CLIENTS = 6
PER_CLIENT = 8
OPS_PER_CLIENT = 24
RACERS = 6

# state -> operation -> the state it leads to (absent: 409 invalid_transition)
MACHINE: dict[str, dict[str, str]] = {
    "active": {"suspend": "suspended", "revoke": "revoked", "renew": "superseded"},
    "suspended": {"reinstate": "active", "revoke": "revoked"},
    "revoked": {},
    "superseded": {},
}
OPERATIONS = ("suspend", "reinstate", "revoke", "renew")


@dataclass
class Ledger:
    """The state each licence's last acknowledged transition left it in."""

    states: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set(self, identifier: str, state: str) -> None:
        with self.lock:
            self.states[identifier] = state


def _post(
    server: Server, home: Home, path: str, body: dict[str, Any] | None = None, **headers: str
) -> tuple[int, dict[str, Any]]:
    status, _, content = call(
        server.url, "POST", path, body=body if body is not None else {}, headers=bearer(home.issuer_key, **headers)
    )
    return status, json.loads(content)


def _operate(server: Server, home: Home, identifier: str, op: str) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"reason": f"concurrency test {op}"}
    if op == "renew":
        body = {"valid_until": "2099-12-31"}
    elif op == "reinstate":
        body = {}
    return _post(server, home, f"/api/v1/licences/{identifier}/{op}", body)


def _issue_all(server: Server, home: Home, ledger: Ledger) -> list[list[str]]:
    start = threading.Barrier(CLIENTS)

    def client(n: int) -> list[str]:
        start.wait()
        owned = []
        for i in range(PER_CLIENT):
            status, licence = _post(
                server, home, "/api/v1/licences", business_body(n * 100 + i), **{"Idempotency-Key": f"pg-{n}-{i}"}
            )
            assert status == 201, licence
            ledger.set(licence["id"], "active")
            owned.append(licence["id"])
        return owned

    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(client, range(CLIENTS)))


def _drive(server: Server, home: Home, ledger: Ledger, owned: list[list[str]]) -> None:
    """Each thread walks its own licences (so "last acknowledged" is well defined per licence)
    while all threads and a status-list reader run at once."""
    done = threading.Event()
    fetched: list[int] = []

    def reader() -> None:
        while not done.is_set():
            status, _, _ = call(server.url, "GET", f"/api/v1/status/{DEPT}")
            assert status == 200
            fetched.append(status)

    def client(n: int) -> None:
        rng = random.Random(7000 + n)
        mine = list(owned[n])
        for _ in range(OPS_PER_CLIENT):
            identifier = rng.choice(mine)
            op = rng.choice(OPERATIONS)
            before = ledger.states[identifier]
            after = MACHINE[before].get(op)
            status, body = _operate(server, home, identifier, op)
            if after is None:
                assert status == 409 and body["error"]["code"] == "invalid_transition", (op, before, body)
                continue
            assert status == (201 if op == "renew" else 200), (op, before, body)
            ledger.set(identifier, after)
            if op == "renew":
                assert body["version"] == int(identifier.split(".")[-2]) + 1 and body["status"] == "active"
                ledger.set(body["id"], "active")
                mine.append(body["id"])
            else:
                assert body["status"] == after, body

    reading = threading.Thread(target=reader, daemon=True)
    reading.start()
    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            list(pool.map(client, range(CLIENTS)))
    finally:
        done.set()
        reading.join(timeout=60)
    assert fetched, "the status-list reader never got an answer"


def _race(server: Server, home: Home, identifier: str, op: str) -> list[tuple[int, dict[str, Any]]]:
    start = threading.Barrier(RACERS)

    def racer(_: int) -> tuple[int, dict[str, Any]]:
        start.wait()
        return _operate(server, home, identifier, op)

    with ThreadPoolExecutor(RACERS) as pool:
        return list(pool.map(racer, range(RACERS)))


def _races(server: Server, home: Home, ledger: Ledger) -> None:
    active = sorted(i for i, s in ledger.states.items() if s == "active")
    assert len(active) >= 3, ledger.states
    renewed, suspended, revoked = active[:3]
    for identifier, op, ok in ((renewed, "renew", 201), (suspended, "suspend", 200), (revoked, "revoke", 200)):
        results = _race(server, home, identifier, op)
        winners = [body for status, body in results if status == ok]
        losers = [body for status, body in results if status != ok]
        assert len(winners) == 1, (op, results)
        assert all(body["error"]["code"] in ("invalid_transition", "version_conflict") for body in losers), losers
        ledger.set(identifier, MACHINE["active"][op])
        if op == "renew":
            ledger.set(winners[0]["id"], "active")


def _check_database(home: Home, ledger: Ledger) -> list[LicenceRecord]:
    db = Database(home.database_url)
    try:
        with db.reader() as s:
            rows = s.execute(select(LicenceRecord)).unique().scalars().all()
            sequences = s.execute(select(StatusListRecord.sequence)).scalars().all()
            chain = verify_chain(s)
    finally:
        db.dispose()
    assert chain.ok, chain.as_dict()
    assert len({r.identifier for r in rows}) == len(rows)
    assert not [k for k, n in Counter((r.type_code, r.serial, r.version) for r in rows).items() if n > 1]
    firsts = sorted(int(r.serial[4:]) for r in rows if r.version == 1)
    assert firsts == list(range(1, CLIENTS * PER_CLIENT + 1))
    assert sorted(r.status_index for r in rows) == list(range(len(rows)))
    assert sorted(sequences) == list(range(1, len(sequences) + 1)) and len(sequences) > 1
    assert {r.identifier: r.status for r in rows} == ledger.states
    return list(rows)


def test_concurrent_issuance_and_transitions_on_postgres(
    pg_server_url: str, tmp_path: Path, servers: list[Server]
) -> None:
    home = prepare_home(tmp_path / "home", pg_server_url)
    server = start_server(home, workers=WORKERS)
    servers.append(server)
    ledger = Ledger()
    owned = _issue_all(server, home, ledger)
    assert len(ledger.states) == CLIENTS * PER_CLIENT
    _drive(server, home, ledger, owned)
    _races(server, home, ledger)
    assert set(ledger.states.values()) == set(MACHINE), Counter(ledger.states.values())

    # the API says what the ledger says
    for identifier, state in ledger.states.items():
        status, _, content = call(server.url, "GET", f"/api/v1/licences/{identifier}", headers=bearer(home.issuer_key))
        assert status == 200 and json.loads(content)["status"] == state, (identifier, content)

    # the signed status list, verified against the root, agrees with every record
    status, _, root = call(server.url, "GET", "/api/v1/ca/root")
    assert status == 200
    status, _, der = call(server.url, "GET", f"/api/v1/status/{DEPT}")
    assert status == 200
    server.stop()
    rows = _check_database(home, ledger)
    verified = verify_status_list(der, trust=TrustContext(anchors=(root,)), issuer=DEPT)
    assert verified.trusted, verified.report.message
    listed = verified.status_list
    assert listed is not None
    for row in rows:
        expected = {"revoked": "revoked", "superseded": "revoked"}.get(row.status, row.status)
        assert listed.status_of(row.status_index) == expected, (row.identifier, row.status)
    assert listed.indexes("revocation") == sorted(r.status_index for r in rows if r.status in ("revoked", "superseded"))
    assert listed.indexes("suspension") == sorted(r.status_index for r in rows if r.status == "suspended")
    audited = run_cli(home, "audit", "verify")
    assert audited.returncode == 0, audited.stdout + audited.stderr
