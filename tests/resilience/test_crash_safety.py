"""SIGKILL in the middle of a burst of issuances, on SQLite (WAL) and PostgreSQL.

A real ``trustsvc serve`` (gunicorn, 2 workers × 4 threads) takes concurrent
``POST /api/v1/licences`` from 8 client threads, each request with its own Idempotency-Key.
Once some answers are in, the whole process group is SIGKILLed while requests are in flight.
The server is started again on the same home, and then:

* every acknowledged (201/200) licence is there, as acknowledged, and its sealed metadata and
  its licence PDF verify (PASSED);
* retrying every request with its Idempotency-Key returns the acknowledged licence (200), or,
  for an unacknowledged one, issues it (201) or returns what had been committed (200): each
  key ends with exactly one licence;
* identifiers, serials and status indexes are unique and gap-free;
* the audit chain verifies (``trustsvc audit verify``), and nothing is half-written: every
  licence has its ``licence.issue`` event and every such event its licence; every sealing of a
  licence identifier belongs to a stored licence; every licence file and service code row has
  its licence, and every stored file its ``licence.file`` event.

The same while a peer region's trust list is replaced: ``trustsvc trust import`` and
``trustsvc trust refresh`` (each installing the peer's next list, sequence + 1) are SIGKILLed at
chosen points, from before their write transaction, through it, to after its commit
(fault_runner.py counts Python line events and kills at the N-th). After each kill the list held
of the peer is exactly the old one or exactly the new one (the bytes, and the sequence and dates
stored beside them, agree; the audit event of the change is there exactly when the change is);
kills land on both sides of the commit; and afterwards the restarted server still verifies the
peer's seal through the held list.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from server_kit import (
    PEER_REGION,
    Home,
    Peer,
    Server,
    bearer,
    business_body,
    call,
    prepare_home,
    prepare_peer,
    run_cli,
    run_with_fault,
    start_server,
)
from sqlalchemy import select

from trustsvc.audit import verify_chain
from trustsvc.federation.local_trust import local_trust_context
from trustsvc.federation.trust_lists import content_of
from trustsvc.storage import Database
from trustsvc.storage.models import (
    AuditEventRecord,
    AuditHead,
    LicenceFileRecord,
    LicenceRecord,
    ServiceCodeRecord,
    TrustPeerRecord,
)
from trustsvc.verify import verify_bytes

pytestmark = pytest.mark.slow

CLIENTS = 8
KILL_AFTER_ACKS = 10
"""SIGKILL once this many issuances were acknowledged (the clients keep firing meanwhile)."""
BURST_TIMEOUT = 120.0
IDENTIFIER_PREFIX = "1.2.156.3005.2."


@dataclass
class Burst:
    """What the clients sent and what came back."""

    bodies: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Idempotency-Key → request body, for every request sent."""
    acked: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Idempotency-Key → the licence JSON of a 201/200 answer."""
    lost: set[str] = field(default_factory=set)
    """Keys whose request got no answer (connection refused, reset or cut short)."""
    other: list[tuple[str, int, bytes]] = field(default_factory=list)
    """Any other answer: there should be none."""
    lock: threading.Lock = field(default_factory=threading.Lock)


def _issue(server: Server, home: Home, key: str, body: dict[str, Any]) -> tuple[int, bytes]:
    status, _, content = call(
        server.url, "POST", "/api/v1/licences", body=body, headers=bearer(home.issuer_key, **{"Idempotency-Key": key})
    )
    return status, content


def _burst_then_kill(server: Server, home: Home, tag: str) -> Burst:
    burst = Burst()
    stop = threading.Event()

    def client(n: int) -> None:
        i = 0
        while not stop.is_set():
            key = f"{tag}-{n}-{i}"
            body = business_body(n * 1000 + i)
            with burst.lock:
                burst.bodies[key] = body
            try:
                status, content = _issue(server, home, key, body)
            except OSError:
                with burst.lock:
                    burst.lost.add(key)
                return  # the server is gone
            with burst.lock:
                if status in (200, 201):
                    burst.acked[key] = json.loads(content)
                else:
                    burst.other.append((key, status, content))
            i += 1

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + BURST_TIMEOUT
    while len(burst.acked) < KILL_AFTER_ACKS and time.monotonic() < deadline and not burst.other:
        time.sleep(0.01)
    server.kill()
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    return burst


def _check_records(home: Home, burst: Burst, final_ids: dict[str, str]) -> None:
    db = Database(home.database_url)
    try:
        with db.reader() as s:
            rows = s.execute(select(LicenceRecord)).unique().scalars().all()
            events = s.execute(select(AuditEventRecord)).scalars().all()
            files = s.execute(select(LicenceFileRecord.licence_id, LicenceFileRecord.media_type)).all()
            code_licences = s.execute(select(ServiceCodeRecord.licence_id)).scalars().all()
            head = s.execute(select(AuditHead)).scalar_one()
            chain = verify_chain(s)
        trust = local_trust_context(db)
        by_id = {r.id: r for r in rows}
        burst_rows = [r for r in rows if r.idempotency_key in burst.bodies]

        # each request, retried, ended in exactly one licence: the one its key now answers with
        assert sorted(r.idempotency_key for r in burst_rows) == sorted(burst.bodies)
        assert {r.idempotency_key: r.identifier for r in burst_rows} == final_ids
        # unique and gap-free
        assert len({r.identifier for r in rows}) == len(rows)
        serials = sorted(int(r.serial[4:]) for r in rows if r.version == 1)
        assert serials == list(range(1, len(serials) + 1)), serials
        assert sorted(r.status_index for r in rows) == list(range(len(rows)))

        # the chain: intact, head at its last row, no gaps
        assert chain.ok, chain.as_dict()
        assert head.seq == len(events) == max(e.seq for e in events)

        # nothing half-written
        issue_events = Counter(e.object_id for e in events if e.action == "licence.issue")
        assert issue_events == Counter(r.identifier for r in rows), "a licence without its event, or the reverse"
        identifiers = {r.identifier for r in rows}
        sealed = [json.loads(e.details)["property_info"] for e in events if e.action == "seal.apply"]
        assert {p for p in sealed if p.startswith(IDENTIFIER_PREFIX)} <= identifiers
        assert all(licence_id in by_id for licence_id, _ in files)
        assert all(licence_id in by_id for licence_id in code_licences)
        file_events = Counter(e.object_id for e in events if e.action == "licence.file")
        assert file_events == Counter(by_id[licence_id].identifier for licence_id, _ in files)

        # every licence's sealed metadata verifies against the region root
        for row in rows:
            report = verify_bytes(row.metadata_signature, trust=trust, original=row.metadata_json.encode("utf-8"))
            assert report.indication.value == "PASSED", (row.identifier, report.message)
    finally:
        db.dispose()


def _crash_and_recover(home: Home, servers: list[Server], tag: str) -> Burst:
    first = start_server(home, workers=2)
    servers.append(first)
    burst = _burst_then_kill(first, home, tag)
    assert not burst.other, burst.other[:3]
    assert len(burst.acked) >= KILL_AFTER_ACKS, f"only {len(burst.acked)} answers before the timeout"
    assert burst.lost, "the kill came after the burst: no request was in flight"

    second = start_server(home, workers=2)
    servers.append(second)
    # acknowledged licences are there, exactly as acknowledged, and their PDFs verify
    for key, licence in burst.acked.items():
        status, _, content = call(
            second.url, "GET", f"/api/v1/licences/{licence['id']}", headers=bearer(home.issuer_key)
        )
        assert status == 200, (key, content)
        assert json.loads(content) == licence
        status, _, pdf = call(
            second.url, "GET", f"/api/v1/licences/{licence['id']}/file", headers=bearer(home.issuer_key)
        )
        assert status == 200 and pdf.startswith(b"%PDF"), (status, pdf[:200])
        status, _, report = call(
            second.url, "POST", "/api/v1/verify", raw=pdf, headers={"Content-Type": "application/pdf"}
        )
        verdict = json.loads(report)
        assert status == 200 and verdict["indication"] == "PASSED", (licence["id"], verdict["message"])

    # every request retried with its key: the same licence, or issued exactly once
    final_ids: dict[str, str] = {}
    for key, body in burst.bodies.items():
        status, content = _issue(second, home, key, body)
        assert status in (200, 201), (key, status, content)
        licence = json.loads(content)
        if key in burst.acked:
            assert status == 200 and licence == burst.acked[key], key
        final_ids[key] = licence["id"]
        again, content_again = _issue(second, home, key, body)
        assert again == 200 and json.loads(content_again)["id"] == licence["id"], key
    assert len(set(final_ids.values())) == len(final_ids)

    second.stop()
    verified = run_cli(home, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "audit log intact" in verified.stdout
    _check_records(home, burst, final_ids)
    return burst


def test_sigkill_mid_burst_loses_no_acknowledged_licence(
    server_db_url: str, tmp_path: Path, servers: list[Server]
) -> None:
    home = prepare_home(tmp_path / "home", server_db_url)
    _crash_and_recover(home, servers, "crash")


# -- a peer's trust list replaced under SIGKILL ----------------------------------------------------

KILL_FRACTIONS = (0.0, 0.2, 0.4, 0.6, 0.8)
"""Where in the write transaction (as a fraction of its line events) kills land..."""
KILL_BEFORE_END = (300, 60, 10, 1)
"""... and how many line events before it ends (the commit is in its last lines)."""
_PEER_EVENTS = ("trust.peer_import", "trust.peer_update")
_SPAN = re.compile(r"fault-runner: events=(\d+) transaction=(-?\d+)\.\.(-?\d+)")


def _held(home: Home) -> tuple[bytes | None, int | None]:
    """The peer list held now (checked for internal agreement) and the sequence the newest
    peer audit event names."""
    db = Database(home.database_url)
    try:
        with db.reader() as s:
            row = s.execute(
                select(TrustPeerRecord).where(TrustPeerRecord.region_code == PEER_REGION[0])
            ).scalar_one_or_none()
            events = (
                s.execute(
                    select(AuditEventRecord)
                    .where(AuditEventRecord.action.in_(_PEER_EVENTS))
                    .order_by(AuditEventRecord.seq)
                )
                .scalars()
                .all()
            )
            chain = verify_chain(s)
    finally:
        db.dispose()
    assert chain.ok, chain.as_dict()
    audited = json.loads(events[-1].details)["sequence"] if events else None
    if row is None:
        return None, audited
    parsed = content_of(row.body)
    assert (row.sequence, row.issued_at, row.next_update) == (parsed.sequence, parsed.issued_at, parsed.next_update)
    assert audited == row.sequence, "the change and its audit event are not one"
    return bytes(row.body), audited


def _dry_run(home: Home, target: str, *args: str) -> tuple[int, int, int]:
    """An undisturbed run: where its first write transaction began and ended, and how many line
    events the whole call took."""
    done = run_with_fault(home, target, "0", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    found = _SPAN.search(done.stderr)
    assert found, done.stderr
    events, began, ended = int(found.group(1)), int(found.group(2)), int(found.group(3))
    assert 0 <= began < ended <= events
    return began, ended, events


def test_sigkill_while_a_peer_trust_list_is_replaced(server_db_url: str, tmp_path: Path, servers: list[Server]) -> None:
    home = prepare_home(tmp_path / "home", server_db_url)
    peer: Peer = prepare_peer(tmp_path / "peer")
    source = tmp_path / "peer-trust-list.cms"
    try:
        actions = {
            "import": ("trustsvc.federation.peers:import_peer", "trust", "import", str(source), "--pin", peer.pin),
            "refresh": ("trustsvc.federation.peers:refresh_peers", "trust", "refresh"),
        }
        source.write_bytes(peer.current_list())
        _dry_run(home, *actions["import"])  # the first import creates the peer
        spans, tails = {}, {}
        for name in ("import", "refresh"):  # then one undisturbed update each, to measure the write
            source.write_bytes(peer.next_list())
            began, ended, events = _dry_run(home, *actions[name])
            spans[name] = ended - began
            tails[name] = events - ended
            assert _held(home)[0] == source.read_bytes()

        outcomes: Counter[str] = Counter()
        names = ("import", "refresh")
        plan = [(names[i % 2], f"tx+{max(1, int(spans[names[i % 2]] * f))}") for i, f in enumerate(KILL_FRACTIONS)]
        plan += [(names[i % 2], f"tx+{spans[names[i % 2]] - k}") for i, k in enumerate(KILL_BEFORE_END)]
        plan += [
            ("import", "2000"),  # long before the write: while reading and checking the list
            # after the commit, halfway through what follows it (the list grows a little with
            # every update, so a kill aimed just past the commit could land before it)
            ("refresh", f"tx+{spans['refresh'] + tails['refresh'] // 2}"),
        ]
        for name, kill_at in plan:
            old, _ = _held(home)
            new = peer.next_list()
            source.write_bytes(new)
            killed = run_with_fault(home, actions[name][0], kill_at, *actions[name][1:])
            assert killed.returncode == -9, (kill_at, killed.stdout, killed.stderr)  # it did die mid-way
            held, _ = _held(home)
            assert held in (old, new), f"{name} killed at {kill_at}: the held list is neither the old nor the new"
            outcomes["new" if held == new else "old"] += 1
            if os.environ.get("TRUSTSVC_RESILIENCE_REPORT"):
                print(f"\n{name} killed at {kill_at}: {'new' if held == new else 'old'} list held", file=sys.stderr)
        assert outcomes["old"] and outcomes["new"], outcomes  # kills landed on both sides of the commit

        finished = run_cli(home, "trust", "import", str(source), "--pin", peer.pin)
        assert finished.returncode == 0, finished.stdout + finished.stderr
        assert _held(home)[0] == source.read_bytes()
        audited = run_cli(home, "audit", "verify")
        assert audited.returncode == 0, audited.stdout + audited.stderr
        server = start_server(home, workers=1)
        servers.append(server)
        status, _, content = call(
            server.url, "POST", "/api/v1/verify", raw=peer.seal, headers={"Content-Type": "application/octet-stream"}
        )
        report = json.loads(content)
        assert status == 200 and report["indication"] == "PASSED", report["message"]
        assert any(t.get("region") == PEER_REGION[0] for t in report["trust_path"]), report["trust_path"]
    finally:
        peer.close()
