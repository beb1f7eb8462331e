"""Peer fetches have one wall-clock deadline over connect, headers and body, and each peer is
refreshed on its own (issue 13): real loopback servers that trickle a byte at a time."""

from __future__ import annotations

import http.server
import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import server_launcher
from federation_helpers import PIN, free_port, open_region
from sqlalchemy import select

from trustsvc import pki
from trustsvc.errors import UpstreamTimeoutError
from trustsvc.federation.peers import fetch, import_peer, list_peers, refresh_peers
from trustsvc.federation.trust_lists import current_trust_list
from trustsvc.formats.uscc import uscc_check_char
from trustsvc.storage.models import TrustPeerRecord

TRICKLE_INTERVAL = 0.5
FETCH_TIMEOUT = 2
MARGIN = 1.0


class _PeerServer(http.server.ThreadingHTTPServer):
    """Serves ``routes``: path → ("ok", body) | ("trickle-headers",) | ("trickle-body", body),
    trickling one byte every TRICKLE_INTERVAL seconds until the client gives up or ``stop``."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[str, tuple[Any, ...]] = {}
        self.stop = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _PeerServer
    protocol_version = "HTTP/1.1"

    def _trickle(self, data: bytes) -> None:
        for i in range(len(data)):
            if self.server.stop.wait(TRICKLE_INTERVAL):
                return
            try:
                self.wfile.write(data[i : i + 1])
                self.wfile.flush()
            except OSError:
                return

    def do_GET(self) -> None:
        route = self.server.routes.get(self.path, ("missing",))
        if route[0] == "ok":
            self.send_response(200)
            self.send_header("Content-Type", "application/cms")
            self.send_header("Content-Length", str(len(route[1])))
            self.end_headers()
            self.wfile.write(route[1])
        elif route[0] == "trickle-headers":
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            self.wfile.flush()
            self._trickle(b"X-Slow: " + b"a" * 200 + b"\r\n")
        elif route[0] == "trickle-body":
            self.send_response(200)
            self.send_header("Content-Type", "application/cms")
            self.send_header("Content-Length", str(len(route[1])))
            self.end_headers()
            self._trickle(route[1])
        else:
            self.send_error(404)
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def peer_server() -> Iterator[_PeerServer]:
    server = _PeerServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def regions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("deadlines")
    env = {"TRUSTSVC_TRUST_FETCH_TIMEOUT": str(FETCH_TIMEOUT), "TRUSTSVC_TRUST_PEER_BUDGET": str(FETCH_TIMEOUT + 1)}
    out = {code: open_region(base / code, code, env_extra=env) for code in ("320000", "220000", "360000")}
    yield out
    for svc in out.values():
        svc.close()


def _pin(svc: Any) -> str:
    with svc.db.reader() as session:
        return str(pki.get_ca(session, "root").sha256)


@pytest.mark.parametrize("mode", ["trickle-headers", "trickle-body"])
def test_one_deadline_bounds_headers_and_body(peer_server: _PeerServer, mode: str) -> None:
    peer_server.routes["/slow"] = (mode, b"x" * 1000)
    started = time.monotonic()
    with pytest.raises(UpstreamTimeoutError) as late:
        fetch(f"{peer_server.url}/slow", timeout=FETCH_TIMEOUT)
    elapsed = time.monotonic() - started
    assert late.value.code == "peer_fetch_timeout"
    assert FETCH_TIMEOUT - 0.2 <= elapsed < FETCH_TIMEOUT + MARGIN, elapsed
    # a peer's budget ends a fetch sooner than its own timeout
    started = time.monotonic()
    with pytest.raises(UpstreamTimeoutError) as budget:
        fetch(f"{peer_server.url}/slow", timeout=30, deadline=time.monotonic() + 1)
    assert time.monotonic() - started < 1 + MARGIN and "budget" in budget.value.message
    # a prompt peer is unaffected
    peer_server.routes["/fast"] = ("ok", b"y" * 200_000)
    assert fetch(f"{peer_server.url}/fast", timeout=FETCH_TIMEOUT) == b"y" * 200_000


def test_an_import_from_a_trickling_peer_ends_at_the_deadline(peer_server: _PeerServer, regions) -> None:
    from api import create_app
    from trustsvc.apikeys import create_api_key

    b = regions["220000"]
    peer_server.routes["/api/v1/trust-list"] = ("trickle-body", current_trust_list(regions["320000"]).der)
    started = time.monotonic()
    with pytest.raises(UpstreamTimeoutError):
        import_peer(b, peer_server.url, _pin(regions["320000"]), actor="test")
    assert time.monotonic() - started < FETCH_TIMEOUT + MARGIN
    # POST /api/v1/trust/peers: 504 with the code
    with b.db.transaction() as session:
        token = create_api_key(session, role="admin", actor="test").token
    client = create_app(service=b).test_client()
    started = time.monotonic()
    resp = client.post(
        "/api/v1/trust/peers",
        json={"url": peer_server.url, "pin": _pin(regions["320000"])},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert time.monotonic() - started < FETCH_TIMEOUT + MARGIN
    assert resp.status_code == 504 and resp.get_json()["error"]["code"] == "peer_fetch_timeout"
    assert all(p["region"]["code"] != "320000" for p in list_peers(b))


def test_a_trickling_peer_delays_no_other(peer_server: _PeerServer, regions) -> None:
    """B holds A and C; A turns hostile (trickles) and C publishes a newer list: C's refresh
    lands while A's is still being read, and A's failure is recorded on A alone."""
    a, b, c = regions["320000"], regions["220000"], regions["360000"]
    peer_server.routes["/a/api/v1/trust-list"] = ("ok", current_trust_list(a).der)
    first_c = current_trust_list(c)
    peer_server.routes["/c/api/v1/trust-list"] = ("ok", first_c.der)
    for code, svc in (("320000", a), ("360000", c)):
        prefix = "a" if code == "320000" else "c"
        import_peer(b, f"{peer_server.url}/{prefix}/api/v1/trust-list", _pin(svc), actor="test")
    pki.add_department(
        c, "11360000MB0000002" + uscc_check_char("11360000MB0000002"), "南昌市市场监督管理局", actor="test"
    )
    newer_c = current_trust_list(c)
    assert newer_c.sequence > first_c.sequence
    peer_server.routes["/c/api/v1/trust-list"] = ("ok", newer_c.der)
    peer_server.routes["/a/api/v1/trust-list"] = ("trickle-body", current_trust_list(a).der)

    def c_sequence() -> int:
        return next(p["sequence"] for p in list_peers(b) if p["region"]["code"] == "360000")

    started = time.monotonic()
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(refresh_peers, b)
        while c_sequence() != newer_c.sequence and time.monotonic() - started < FETCH_TIMEOUT + MARGIN:
            time.sleep(0.05)
        c_done = time.monotonic() - started
        assert c_sequence() == newer_c.sequence and not running.done(), "C waited for A"
        outcomes = {o.region: o for o in running.result(timeout=30)}
    elapsed = time.monotonic() - started
    assert c_done < 1.0, c_done
    assert elapsed < FETCH_TIMEOUT + 1 + MARGIN, elapsed  # A's budget: its list, then status lists
    assert outcomes["360000"].outcome == "updated"
    assert outcomes["320000"].outcome == "unreachable" and "peer_fetch_timeout" in outcomes["320000"].message
    held = {p["region"]["code"]: p for p in list_peers(b)}
    assert held["320000"]["status"] == "unreachable" and "peer_fetch_timeout" in held["320000"]["last_error"]
    assert held["360000"]["status"] == "ok" and held["360000"]["last_error"] is None
    with b.db.transaction() as session:  # leave B without peers for the other tests
        for row in session.execute(select(TrustPeerRecord)).scalars():
            session.delete(row)


@pytest.mark.slow
def test_healthz_answers_while_eight_imports_wait_on_a_trickling_peer(peer_server: _PeerServer, tmp_path: Path) -> None:
    """A real `trustsvc serve` (one gthread worker): eight slow imports at once, and /healthz
    still answers within a second throughout."""
    from trustsvc.apikeys import create_api_key

    home = tmp_path / "home"
    svc = open_region(home, "320000", department=False)
    with svc.db.transaction() as session:
        token = create_api_key(session, role="admin", actor="test").token
    svc.close()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRUSTSVC_", "DATABASE_URL"))}
    env.update(
        {
            "TRUSTSVC_HOME": str(home),
            "TRUSTSVC_HSM_PIN": PIN,
            "TRUSTSVC_TRUST_REFRESH_INTERVAL": "0",
            "TRUSTSVC_TRUST_FETCH_TIMEOUT": "3",
            "TRUSTSVC_TRUST_PEER_BUDGET": "3",
        }
    )
    proc = server_launcher.launch(["serve", "--port", str(port), "--workers", "1"], env)
    url = f"http://127.0.0.1:{port}"
    peer_server.routes["/api/v1/trust-list"] = ("trickle-body", b"z" * 100)

    def healthz(timeout: float) -> float:
        started = time.monotonic()
        with urllib.request.urlopen(f"{url}/healthz", timeout=timeout) as resp:
            assert resp.status == 200
        return time.monotonic() - started

    def slow_import(_: int) -> tuple[int, str, float]:
        body = json.dumps({"url": peer_server.url, "pin": "ab" * 32}).encode()
        req = urllib.request.Request(
            f"{url}/api/v1/trust/peers",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        )
        started = time.monotonic()
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                status, payload = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, payload = exc.code, exc.read()
        return status, json.loads(payload)["error"]["code"], time.monotonic() - started

    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                healthz(2)
                break
            except (OSError, AssertionError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        with ThreadPoolExecutor(8) as pool:
            imports = [pool.submit(slow_import, i) for i in range(8)]
            time.sleep(0.3)
            waits = []
            while not all(f.done() for f in imports):
                waits.append(healthz(1.0))
                time.sleep(0.1)
            results = [f.result() for f in imports]
    finally:
        server_launcher.stop(proc, grace=20)
    assert waits and max(waits) < 1.0, waits
    assert {(s, c) for s, c, _ in results} <= {(504, "peer_fetch_timeout"), (429, "peer_operations_busy")}, results
    assert any(s == 504 for s, _, _ in results)
    assert max(t for _, _, t in results) < 3 + 2 * MARGIN, results


def test_socket_is_not_left_open(peer_server: _PeerServer) -> None:
    """The deadline wrapper closes the connection once the response is read."""
    peer_server.routes["/fast"] = ("ok", b"ok")
    before = _open_sockets()
    for _ in range(20):
        assert fetch(f"{peer_server.url}/fast") == b"ok"
    assert _open_sockets() <= before + 2


def _open_sockets() -> int:
    fds = Path("/proc/self/fd")
    if not fds.is_dir():
        pytest.skip("no /proc")
    count = 0
    for fd in fds.iterdir():
        try:
            count += os.readlink(fd).startswith("socket:")
        except OSError:
            pass
    return count
