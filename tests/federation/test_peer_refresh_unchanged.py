"""A peer refresh that brings nothing new writes no trust material (issue 13): the trust version
stays, so no process rebuilds its snapshot; a changed list or status list still moves it.

Region A (320000) is served by a loopback HTTP server (its trust list and its department's
status list, at the URLs A's list names); region B (220000) imports A by pin and refreshes.
"""

from __future__ import annotations

import datetime as dt
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fed_bodies import business_body
from federation_helpers import department_uscc, open_region
from sqlalchemy import select

from trustsvc import pki
from trustsvc.apikeys import SystemActor
from trustsvc.federation.peers import import_peer, refresh_peers
from trustsvc.federation.snapshot import BuildCache, build_snapshot
from trustsvc.federation.trust_lists import current_trust_list
from trustsvc.formats.uscc import uscc_check_char
from trustsvc.licences.service import issue_licence, request_from_json, revoke_licence
from trustsvc.sealing import SealRequest, make_department_seal
from trustsvc.status_lists import current_status_list
from trustsvc.storage.models import PeerStatusListRecord, TrustPeerRecord

A, B = "320000", "220000"
DAY = dt.timedelta(days=1)
UA = department_uscc(A)
LIST_PATH = "/api/v1/trust-list"
STATUS_PATH = f"/api/v1/status/{UA}"


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[str, bytes] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        body = self.server.routes.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/cms")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


def _held(svc: Any) -> dict[str, Any]:
    """Everything B holds of A: the peer row's trust material and each status-list row."""
    with svc.db.reader() as session:
        peer = session.execute(select(TrustPeerRecord).where(TrustPeerRecord.region_code == A)).scalar_one()
        lists = session.execute(select(PeerStatusListRecord).where(PeerStatusListRecord.peer_id == peer.id)).scalars()
        return {
            "list": (peer.sequence, peer.body),
            "status": {s.issuer_uscc: (s.sequence, s.body, s.fetched_at) for s in lists},
            "last_attempt_at": peer.last_attempt_at,
            "status_of_peer": (peer.status, peer.last_error),
        }


def _refresh_once(svc: Any) -> Any:
    [outcome] = refresh_peers(svc)
    return outcome


def test_a_refresh_that_brings_nothing_new_leaves_the_trust_version(server: _Server, tmp_path: Path) -> None:
    a = open_region(tmp_path / "a", A, env_extra={"TRUSTSVC_SERVER_BASE_URL": server.url})
    b = open_region(tmp_path / "b", B)
    try:
        make_department_seal(a, SealRequest(UA, "江苏省市场监督管理局", center_text="证照专用章"), actor="test")
        first_status = current_status_list(a, UA)
        server.routes[LIST_PATH] = current_trust_list(a).der
        server.routes[STATUS_PATH] = first_status.der
        with a.db.reader() as session:
            pin = str(pki.get_ca(session, "root").sha256)
        imported = import_peer(b, server.url + LIST_PATH, pin, actor="test")
        assert imported.outcome == "imported" and imported.status_lists == 1
        held = _held(b)
        assert held["status"][UA][1] == first_status.der
        version = b.db.trust_version()
        cache = BuildCache()
        before = build_snapshot(b.db, grace=DAY, cache=cache)

        # twice the same list and status list: everything is fetched and checked, nothing stored
        for _ in range(2):
            outcome = _refresh_once(b)
            assert (outcome.outcome, outcome.status_lists) == ("unchanged", 1), outcome
            assert b.db.trust_version() == version
        again = _held(b)
        assert again["list"] == held["list"] and again["status"] == held["status"]
        assert again["last_attempt_at"] > held["last_attempt_at"]  # the attempt is still recorded
        # and a rebuild for another reason (here: forced) keeps A's namespace: nothing of it changed
        after = build_snapshot(b.db, grace=DAY, cache=cache)
        assert after.namespace(f"peer:{A}") is before.namespace(f"peer:{A}") is not None

        # the peer unreachable: recorded on the peer, which is bookkeeping, not trust material
        server.routes.clear()
        assert _refresh_once(b).outcome == "unreachable"
        assert _held(b)["status_of_peer"][0] == "unreachable" and b.db.trust_version() == version
        server.routes[LIST_PATH] = current_trust_list(a).der
        server.routes[STATUS_PATH] = first_status.der
        assert _refresh_once(b).outcome == "unchanged"
        assert _held(b)["status_of_peer"] == ("ok", None) and b.db.trust_version() == version

        # A revokes a licence: its new status list is stored and the version moves
        row = issue_licence(
            a,
            request_from_json(business_body()),
            principal_or_actor=SystemActor("test"),
            department_uscc=UA,
            timestamp=False,
        )
        revoke_licence(a, row.identifier, principal_or_actor=SystemActor("test"), reason="test")
        newer_status = current_status_list(a, UA)
        assert newer_status.sequence > first_status.sequence
        server.routes[STATUS_PATH] = newer_status.der
        assert _refresh_once(b).outcome == "unchanged"  # the trust list itself did not change
        moved = b.db.trust_version()
        assert moved > version and _held(b)["status"][UA][:2] == (newer_status.sequence, newer_status.der)

        # A adds a department: its new trust list is stored and the version moves again
        stem = "11320000MB0000002"
        pki.add_department(a, stem + uscc_check_char(stem), "南京市市场监督管理局", actor="test")
        newer_list = current_trust_list(a)
        server.routes[LIST_PATH] = newer_list.der
        assert _refresh_once(b).outcome == "updated"
        assert b.db.trust_version() > moved and _held(b)["list"] == (newer_list.sequence, newer_list.der)
    finally:
        a.close()
        b.close()
