"""Files at rest, end to end: ``trustsvc init --demo`` (PIN file), ``department add``, ``seal
make``, ``apikey create``, ``licence issue``, exports (``licence file --out``, ``code cache``) and
``serve`` with two workers answering issuance, files, verification and /metrics, all run with a
umask of 022: every file under ``TRUSTSVC_HOME`` is 0600 and every directory 0700, while the
server runs (SQLite's -wal and -shm, prometheus' per-worker files) and after it stopped. Before,
``trustsvc.db`` and its -wal/-shm, ``config.toml`` and the home were world-readable."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import server_launcher
from server_kit import BUSINESS_TYPE, DEPT, DEPT_NAME, Home, Server, bearer, business_body, call, free_port

pytestmark = pytest.mark.slow


def _not_private(root: Path) -> list[str]:
    wrong = []
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode != (0o700 if path.is_dir() else 0o600):
            wrong.append(f"{path.relative_to(root)}: {mode:04o}")
    return wrong


def test_every_file_under_the_home_is_private_whatever_the_umask(tmp_path: Path, servers: list[Server]) -> None:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRUSTSVC_", "DATABASE_URL"))}
    env["TRUSTSVC_HOME"] = str(home)

    def cli(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "trustsvc.cli", *args], env=env, capture_output=True, timeout=300)
        assert done.returncode == 0, done.stderr.decode()
        return done.stdout.decode()

    old = os.umask(0o022)  # inherited by every command and the server
    try:
        cli("init", "--region", "320000", "--name", "江苏省", "--demo")
        cli("department", "add", "--code", DEPT, "--name", DEPT_NAME)
        cli("seal", "make", "--department", DEPT, "--name", DEPT_NAME, "--center-text", "证照专用章")
        key = cli("apikey", "create", "--role", "issuer", "--department", DEPT, "--types", BUSINESS_TYPE).strip()
        data = tmp_path / "licence.json"
        data.write_text(json.dumps(business_body(1), ensure_ascii=False), encoding="utf-8")
        issued = json.loads(cli("licence", "issue", "--department", DEPT, "--data", str(data)))
        cli("licence", "file", issued["id"], "--out", str(home / "licence.pdf"))
        cli("code", "cache", str(home / "code-cache"))

        port = free_port()
        proc = server_launcher.launch(["serve", "--port", str(port), "--workers", "2"], env)
        server = Server(home=Home(home, f"sqlite:///{home / 'trustsvc.db'}", key, key), port=port, proc=proc)
        servers.append(server)
        deadline = time.monotonic() + 90
        while True:
            try:
                if call(server.url, "GET", "/healthz", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "serve did not come up"
            time.sleep(0.2)
        status, _, body = call(server.url, "POST", "/api/v1/licences", body=business_body(2), headers=bearer(key))
        assert status == 201, body
        ident = json.loads(body)["id"]
        assert call(server.url, "GET", f"/api/v1/licences/{ident}/file", headers=bearer(key))[0] == 200
        assert call(server.url, "POST", "/api/v1/verify", body={"code": "TS1:NOTACODE"})[0] == 200
        assert call(server.url, "GET", "/metrics")[0] == 200

        names = {str(p.relative_to(home)) for p in home.rglob("*")}
        for expected in (
            "config.toml",
            "hsm.pin",
            "trustsvc.db",
            "trustsvc.db-wal",
            "trustsvc.db-shm",
            "keys/keystore.json",
            "licence.pdf",
            "run/metrics",
        ):
            assert expected in names, sorted(names)
        assert any(n.startswith("code-cache/") for n in names) and any(n.startswith("run/metrics/") for n in names)
        assert _not_private(home) == [], "while serving"
        server.stop()
        assert _not_private(home) == [], "after serving"
    finally:
        os.umask(old)
