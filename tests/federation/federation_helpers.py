"""Helpers for the federation tests: open regions in temporary homes (SQLite), and the
three-region cluster of real ``trustsvc serve`` processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import server_launcher

PIN = "test-pin-1234"
REGIONS = {
    "320000": ("江苏省", "", "江苏省市场监督管理局"),
    "220000": ("吉林省", "", "吉林省市场监督管理局"),
    "360000": ("江西省", "", "江西省市场监督管理局"),
}


def department_uscc(region: str) -> str:
    """A valid USCC for the region's demo department (GB 32100 check character computed)."""
    from trustsvc.formats.uscc import uscc_check_char

    stem = f"11{region}MB0000001"
    return stem + uscc_check_char(stem)


def open_region(home: Path, code: str, *, env_extra: dict[str, str] | None = None, department: bool = True) -> Any:
    """An open TrustService for region ``code`` in ``home`` (SQLite), initialised, with one department."""
    from trustsvc import pki
    from trustsvc.config import load_config, write_config
    from trustsvc.context import open_service

    env = {"TRUSTSVC_HOME": str(home), "TRUSTSVC_HSM_PIN": PIN, **(env_extra or {})}
    if not (home / "config.toml").exists():
        write_config(home / "config.toml", {"region": {"code": code, "name": REGIONS[code][0]}})
    svc = open_service(load_config(env), env, create_keystore=True)
    pki.init_region(svc, code, REGIONS[code][0], actor="test")
    if department:
        pki.add_department(svc, department_uscc(code), REGIONS[code][2], actor="test")
    return svc


free_port = server_launcher.free_port


@dataclass
class Region:
    """One running region: its home, URL, admin key, department and process."""

    code: str
    home: Path
    port: int
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    admin_key: str = ""
    issuer_key: str = ""
    output: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def uscc(self) -> str:
        return department_uscc(self.code)

    def cli(self, *args: str, check: bool = True, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        done = subprocess.run(
            [sys.executable, "-m", "trustsvc.cli", *args], env=self.env, input=stdin, capture_output=True, timeout=180
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"trustsvc {' '.join(args)} exited {done.returncode}:\n"
                f"{done.stdout.decode(errors='replace')}\n{done.stderr.decode(errors='replace')}"
            )
        return done

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        raw: bytes | None = None,
        key: str | None = None,
        content_type: str | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        headers = {}
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        if key:
            headers["Authorization"] = f"Bearer {key}"
        req = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                payload = resp.read()
                status, hdrs = resp.status, dict(resp.headers)
        except urllib.error.HTTPError as exc:
            payload, status, hdrs = exc.read(), exc.code, dict(exc.headers)
        ctype = hdrs.get("Content-Type", "")
        return status, (json.loads(payload) if ctype.startswith("application/json") else payload), hdrs

    def verify(self, data: bytes, *, original: bytes | None = None) -> dict[str, Any]:
        """POST /api/v1/verify (multipart file, optional original) → the report."""
        boundary = "----trustsvc-federation"
        parts = [("file", data)] + ([("original", original)] if original is not None else [])
        body = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{n}"; filename="{n}.bin"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n".encode()
            + v
            + b"\r\n"
            for n, v in parts
        )
        body += f"--{boundary}--\r\n".encode()
        status, report, _ = self.request(
            "POST", "/api/v1/verify", raw=body, content_type=f"multipart/form-data; boundary={boundary}"
        )
        assert status == 200, report
        return report  # type: ignore[no-any-return]

    def verify_code(self, code: str) -> dict[str, Any]:
        status, report, _ = self.request("POST", "/api/v1/verify", body={"code": code})
        assert status == 200, report
        return report  # type: ignore[no-any-return]


def start(region: Region) -> None:
    region.proc = server_launcher.launch(
        ["serve", "--port", str(region.port), "--workers", "1"], region.env, output=region.output
    )


def wait_healthy(region: Region, deadline: float) -> None:
    server_launcher.wait_healthy(
        region.url, region.proc, deadline=deadline, what=f"region {region.code}", output=region.output
    )


def stop(region: Region) -> None:
    server_launcher.stop(region.proc)


def make_region(base: Path, code: str) -> Region:
    home = base / f"r{code}"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRUSTSVC_", "DATABASE_URL"))}
    env.update(
        {
            "TRUSTSVC_HOME": str(home),
            "TRUSTSVC_HSM_PIN": PIN,
            "TRUSTSVC_SERVER_PORT": str(port),
            "TRUSTSVC_TRUST_REFRESH_INTERVAL": "0",
            "TRUSTSVC_LOG_LEVEL": "WARNING",
        }
    )
    return Region(code=code, home=home, port=port, env=env)


def running(regions: list[Region]) -> Iterator[list[Region]]:
    try:
        for r in regions:
            start(r)
        deadline = time.monotonic() + 120
        for r in regions:
            wait_healthy(r, deadline)
        yield regions
    finally:
        for r in regions:
            stop(r)


# -- small helpers shared by the hostile-region and two-server tests (additive) -------------------


def setup_region(region: Region) -> None:
    """`trustsvc init`, `department add`, an admin key: through the CLI, before serving."""
    name, _, dept_name = REGIONS[region.code]
    region.cli("init", "--region", region.code, "--name", name)
    region.cli("department", "add", "--code", region.uscc, "--name", dept_name)
    region.admin_key = (
        region.cli("apikey", "create", "--role", "admin", "--label", "federation test").stdout.decode().strip()
    )


def region_pin(region: Region) -> str:
    """The region's pin (`trustsvc trust pin`): SHA-256 of its root certificate."""
    return region.cli("trust", "pin").stdout.decode().strip()


def issue_licence(region: Region, body: dict[str, Any], *, department: str | None = None) -> dict[str, Any]:
    """POST /licences (as the region's admin, for ``department``, default the region's own), then
    the licence's PDF and static code: ``{"id", "pdf", "code"}``."""
    status, lic, _ = region.request(
        "POST", "/api/v1/licences", key=region.admin_key, body={**body, "department": department or region.uscc}
    )
    assert status == 201, lic
    ident = lic["id"]
    status, pdf, _ = region.request("GET", f"/api/v1/licences/{ident}/file", key=region.admin_key)
    assert status == 200, pdf
    status, code, _ = region.request("GET", f"/api/v1/licences/{ident}/code", key=region.admin_key)
    assert status == 200, code
    return {"id": ident, "pdf": pdf, "code": code.decode()}


def dynamic_code(region: Region, ident: str) -> str:
    """A fresh dynamic code of licence ``ident`` (POST /licences/{id}/codes)."""
    status, dyn, _ = region.request("POST", f"/api/v1/licences/{ident}/codes", key=region.admin_key)
    assert status == 201, dyn
    return str(dyn["code"])


def held_peer(region: Region, peer_code: str) -> dict[str, Any] | None:
    """What ``region`` holds of peer ``peer_code`` (GET /trust/peers), or None."""
    status, peers, _ = region.request("GET", "/api/v1/trust/peers", key=region.admin_key)
    assert status == 200, peers
    return next((p for p in peers if p["region"]["code"] == peer_code), None)


def open_region_service(region: Region) -> Any:
    """An in-process TrustService on the region's home and environment (its database and key
    store; the region's server may be running). Close it after use."""
    from trustsvc.config import load_config
    from trustsvc.context import open_service

    return open_service(load_config(region.env), region.env)
