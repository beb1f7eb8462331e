"""Rate limits hold across real processes when they share Redis (``[limits] storage_url``):
two gunicorn workers of one ``trustsvc serve``, and two ``serve`` processes (two hosts of one
region, each with its own home). With the default memory storage each process counts alone.

Requests come from a random 127.x.y.z source address (and invented key ids), so counts Redis
kept from earlier runs, or from a run next door, never meet this one's.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from pathlib import Path

import pytest
from server_kit import Home, Server, prepare_home, start_server

from trustsvc.config import write_config

pytestmark = pytest.mark.slow

BURST = 3
LIMITS = {
    "verify_per_minute": 1,
    "verify_burst": BURST,  # 3 in any 3 minutes: no refill during a test
    "auth_failures_per_minute": 1,
    "auth_failures_burst": BURST,
    "auth_failures_address_per_minute": 0,
}


def _home(tmp_path: Path, name: str, storage_url: str) -> Home:
    home = prepare_home(tmp_path / name, f"sqlite:///{tmp_path / name / 'trustsvc.db'}")
    write_config(
        home.path / "config.toml",
        {"region": {"code": "320000", "name": "江苏省"}, "limits": {**LIMITS, "storage_url": storage_url}},
    )
    return home


def _source() -> str:
    """A loopback address of its own (Linux answers the whole of 127/8)."""
    return f"127.{random.randrange(1, 255)}.{random.randrange(256)}.{random.randrange(1, 255)}"


def _request(
    server: Server,
    source: str,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60, source_address=(source, 0))
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        if resp.status == 429:
            assert json.loads(data)["error"]["code"] == "rate_limited" and int(resp.headers["Retry-After"]) >= 1
        return resp.status
    finally:
        conn.close()


def _verify(server: Server, source: str) -> int:
    return _request(
        server,
        source,
        "POST",
        "/api/v1/verify",
        body=b'{"code": "TS1:NOTACODE"}',
        headers={"Content-Type": "application/json"},
    )


def _bad_key(server: Server, source: str, key_id: str) -> int:
    return _request(
        server, source, "GET", "/api/v1/whoami", headers={"Authorization": f"Bearer tsk_{key_id}_" + "x" * 43}
    )


def _verifies_by_worker(server: Server) -> dict[str, float]:
    """Verifications each worker answered, from its own prometheus file (``counter_<pid>.db``)."""
    from prometheus_client.mmap_dict import MmapedDict

    out: dict[str, float] = {}
    for path in (server.home.path / "run" / "metrics").glob("counter_*.db"):
        for key, value, *_ in MmapedDict.read_all_values_from_file(str(path)):
            name, _, labels, _ = json.loads(key)
            if name == "trustsvc_http_requests" and labels.get("endpoint") == "/api/v1/verify":
                pid = path.stem.removeprefix("counter_")
                out[pid] = out.get(pid, 0.0) + value
    return out


def _spread(server: Server, source: str, rounds: int = 30) -> list[int]:
    """Verifications sent eight at a time until both workers have answered some (which one
    accepts a connection is the kernel's choice; a worker still starting takes none)."""
    statuses: list[int] = []
    lock = threading.Lock()

    def one() -> None:
        status = _verify(server, source)
        with lock:
            statuses.append(status)

    for _ in range(rounds):
        threads = [threading.Thread(target=one) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if len(_verifies_by_worker(server)) >= 2:
            break
        time.sleep(0.2)
    return statuses


def _metric(server: Server, name: str, **labels: str) -> float:
    """A sample of ``/metrics`` (every worker's merged), 0 when absent."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(f"{name}{{{want}}} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_two_workers_sharing_redis_allow_the_limit_once(tmp_path: Path, redis_url: str, servers: list[Server]) -> None:
    server = start_server(_home(tmp_path, "one", redis_url), workers=2)
    servers.append(server)
    source = _source()
    statuses = _spread(server, source)
    assert len(_verifies_by_worker(server)) == 2, "both workers should have answered some verifications"
    assert statuses.count(200) == BURST and statuses.count(429) == len(statuses) - BURST, statuses
    # /metrics (both workers merged) counts every 429.
    assert (
        _metric(server, "trustsvc_http_rate_limited_total", endpoint="/api/v1/verify", limit="verify-address")
        == len(statuses) - BURST
    )
    key_id = f"{random.getrandbits(48):012x}"
    assert [_bad_key(server, source, key_id) for _ in range(BURST + 3)] == [401] * BURST + [429] * 3


def test_two_serve_processes_sharing_redis_allow_the_limit_once(
    tmp_path: Path, redis_url: str, servers: list[Server]
) -> None:
    first = start_server(_home(tmp_path, "a", redis_url), workers=2)
    servers.append(first)
    second = start_server(_home(tmp_path, "b", redis_url), workers=2)
    servers.append(second)
    source = _source()
    assert [_verify(s, source) for s in (first, second, first, second, first, second)] == [200] * 3 + [429] * 3
    key_id = f"{random.getrandbits(48):012x}"
    assert [_bad_key(s, source, key_id) for s in (second, first, second, first)] == [401] * 3 + [429]
    # Another address (and another key id) still has its whole budget on either host.
    assert _verify(second, _source()) == 200


def test_memory_storage_counts_per_process(tmp_path: Path, servers: list[Server]) -> None:
    first = start_server(_home(tmp_path, "a", ""), workers=1)
    servers.append(first)
    second = start_server(_home(tmp_path, "b", ""), workers=1)
    servers.append(second)
    source = _source()
    assert [_verify(first, source) for _ in range(BURST + 1)] == [200] * BURST + [429]
    assert [_verify(second, source) for _ in range(BURST + 1)] == [200] * BURST + [429]
