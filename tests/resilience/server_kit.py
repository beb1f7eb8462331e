"""A real ``trustsvc serve`` (gunicorn) in its own process group, for the resilience tests:
prepare a home (region, department, seal, keys) in-process, start the server, talk HTTP to it
with the standard library, SIGKILL the whole group, start it again on the same home.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import server_launcher

from trustsvc.formats.uscc import uscc_check_char

DEPT = "11320000MB0000001G"
DEPT_NAME = "江苏省市场监督管理局"
BUSINESS_TYPE = "11100000MB0143028R001"  # 营业执照 (trustsvc.licences.catalogue.BUSINESS_LICENCE)
PIN = "resilience-pin-1234"


@dataclass(frozen=True)
class Home:
    """A prepared service home and the keys made for it."""

    path: Path
    database_url: str
    issuer_key: str
    admin_key: str

    @property
    def env(self) -> dict[str, str]:
        """The environment a CLI or server process of this home runs with (nothing inherited
        from the test run's own TRUSTSVC_* settings)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TRUSTSVC_", "DATABASE_URL"))}
        env.update(TRUSTSVC_HOME=str(self.path), DATABASE_URL=self.database_url, TRUSTSVC_HSM_PIN=PIN)
        return env


def prepare_home(path: Path, database_url: str) -> Home:
    """Region 320000 with one department, its seal, an issuer key (营业执照) and an admin key."""
    from trustsvc import pki
    from trustsvc.apikeys import create_api_key
    from trustsvc.config import load_config, write_config
    from trustsvc.context import open_service
    from trustsvc.sealing import SealRequest, make_department_seal

    env = {"TRUSTSVC_HOME": str(path), "DATABASE_URL": database_url, "TRUSTSVC_HSM_PIN": PIN}
    write_config(path / "config.toml", {"region": {"code": "320000", "name": "江苏省"}})
    service = open_service(load_config(env), env, create_keystore=True)
    try:
        pki.init_region(service, "320000", "江苏省", actor="test")
        pki.add_department(service, DEPT, DEPT_NAME, actor="test")
        make_department_seal(service, SealRequest(DEPT, DEPT_NAME, center_text="证照专用章"), actor="test")
        with service.db.transaction() as session:
            issuer = create_api_key(
                session, role="issuer", actor="test", department_uscc=DEPT, licence_types=[BUSINESS_TYPE]
            ).token
            admin = create_api_key(session, role="admin", actor="test").token
    finally:
        service.close()
    return Home(path=path, database_url=database_url, issuer_key=issuer, admin_key=admin)


free_port = server_launcher.free_port


@dataclass
class Server:
    """One ``trustsvc serve`` process group."""

    home: Home
    port: int
    proc: subprocess.Popen[bytes]
    output: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return "".join(self.output)

    def kill(self) -> None:
        """SIGKILL the master and every worker at once (the whole process group)."""
        server_launcher.kill(self.proc)
        _wait_group_gone(self.proc.pid)
        server_launcher.close_output(self.proc)

    def stop(self) -> None:
        """SIGTERM (graceful), SIGKILL after 30 s."""
        server_launcher.stop(self.proc)
        _wait_group_gone(self.proc.pid)


def _wait_group_gone(pgid: int, timeout: float = 20.0) -> None:
    """Workers outlive a killed master for a moment; wait until none of the group is left."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise RuntimeError(f"process group {pgid} is still alive")


def start_server(home: Home, *, workers: int = 2, timeout: float = 90.0) -> Server:
    """``python -m trustsvc.cli serve`` on a free port; returns once /healthz says ok."""
    port = free_port()
    output: list[str] = []
    proc = server_launcher.launch(["serve", "--port", str(port), "--workers", str(workers)], home.env, output=output)
    server = Server(home=home, port=port, proc=proc, output=output)
    try:
        server_launcher.wait_healthy(
            server.url, proc, deadline=time.monotonic() + timeout, what="trustsvc serve", output=output, interval=0.2
        )
    except RuntimeError:
        server.stop()
        raise
    return server


def call(
    base_url: str,
    method: str,
    path: str,
    *,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    raw: bytes | None = None,
    timeout: float = 60.0,
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request on a fresh connection; raises OSError (connection refused/reset...)
    when no complete answer came back."""
    host, port = base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        hdrs = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            hdrs.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        content = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, content
    except http.client.HTTPException as exc:  # e.g. RemoteDisconnected, IncompleteRead
        raise ConnectionError(f"{type(exc).__name__}: {exc}") from exc
    finally:
        conn.close()


def bearer(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


def business_body(n: int) -> dict[str, Any]:
    """A valid 营业执照 request; ``n`` makes the holder (and so the request) distinct."""
    stem = f"91320100MA{n:07d}"
    uscc = stem + uscc_check_char(stem)
    name = f"江苏韧性测试{n}号科技有限公司"
    return {
        "type": BUSINESS_TYPE,
        "holder": {"name": name, "id_type": "001", "id": uscc},
        "fields": {
            "name": name,
            "uscc": uscc,
            "entity_type": "有限责任公司",
            "legal_representative": "张三",
            "business_scope": "软件开发",
            "registered_capital": "100万元人民币",
            "established_on": "2020-05-01",
            "domicile": "南京市玄武区中山路1号",
        },
        "valid_from": "2020-05-01",
        "valid_until": None,
    }


def run_cli(home: Home, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trustsvc.cli", *args], env=home.env, capture_output=True, text=True, timeout=timeout
    )


# -- a peer region whose trust list changes ----------------------------------------------------

PEER_REGION = ("220000", "吉林省")
PEER_DEPT = "11220000MB0000001" + uscc_check_char("11220000MB0000001")


@dataclass
class Peer:
    """Region 220000 (吉林省), kept open in-process: each :meth:`next_list` adds a department,
    so the region signs a new trust list (sequence + 1)."""

    service: Any
    pin: str
    seal: bytes
    """A seal of the peer's department: what a verifier here checks through the peer's list."""
    added: int = 0

    def current_list(self) -> bytes:
        from trustsvc.federation.trust_lists import current_trust_list

        return bytes(current_trust_list(self.service).der)

    def next_list(self) -> bytes:
        from trustsvc import pki

        self.added += 1
        stem = f"11220000MB{self.added + 1:07d}"
        pki.add_department(self.service, stem + uscc_check_char(stem), f"吉林省第{self.added}测试局", actor="test")
        return self.current_list()

    def close(self) -> None:
        self.service.close()


def prepare_peer(path: Path) -> Peer:
    """The peer's base URL points at a closed port: its issuers' status lists are not reachable
    (importing its list does not wait on them)."""
    import hashlib

    from sqlalchemy import select

    from trustsvc import pki
    from trustsvc.config import load_config, write_config
    from trustsvc.context import open_service
    from trustsvc.sealing import SealRequest, make_department_seal
    from trustsvc.storage.models import CertificateRecord

    env = {"TRUSTSVC_HOME": str(path), "DATABASE_URL": f"sqlite:///{path / 'trustsvc.db'}", "TRUSTSVC_HSM_PIN": PIN}
    write_config(
        path / "config.toml",
        {
            "region": {"code": PEER_REGION[0], "name": PEER_REGION[1]},
            "server": {"base_url": f"http://127.0.0.1:{free_port()}"},
        },
    )
    service = open_service(load_config(env), env, create_keystore=True)
    pki.init_region(service, *PEER_REGION, actor="test")
    pki.add_department(service, PEER_DEPT, "吉林省市场监督管理局", actor="test")
    seal = make_department_seal(service, SealRequest(PEER_DEPT, "吉林省市场监督管理局"), actor="test")
    with service.db.reader() as session:
        root = session.execute(select(CertificateRecord.der).where(CertificateRecord.slug == "root")).scalar_one()
    return Peer(service=service, pin=hashlib.sha256(root).hexdigest(), seal=seal.der)


FAULT_RUNNER = Path(__file__).resolve().parent / "fault_runner.py"


def run_with_fault(
    home: Home, target: str, kill_at: str, *args: str, timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """``trustsvc ARGS`` killed (SIGKILL) at ``kill_at`` (``N`` or ``tx+N`` line events) inside
    ``target`` (``module:function``); ``0`` never kills and reports the counts (fault_runner.py)."""
    # One hash seed for every run, so set and dict orders (and so line counts) repeat exactly and
    # a kill aimed from a dry run lands where it was aimed.
    return subprocess.run(
        [sys.executable, str(FAULT_RUNNER), target, kill_at, "--", *args],
        env={**home.env, "PYTHONHASHSEED": "0"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
