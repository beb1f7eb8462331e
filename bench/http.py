"""The HTTP service under load: gunicorn with 2 workers (``trustsvc serve``), load from wrk in a
separate process. Verify (anonymous, the public /verify path) and issue throughput, p50/p99,
errors, and the workers' RSS before and after 100,000 verifications."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from trustsvc import pki
from trustsvc.apikeys import create_api_key
from trustsvc.codes.service import static_code_text
from trustsvc.config import load_config, write_config
from trustsvc.context import open_service
from trustsvc.licences.catalogue import BUSINESS_LICENCE
from trustsvc.licences.service import issue_licence
from trustsvc.sealing import SealRequest, make_department_seal

from .domain import COMPANY, DEPT, licence_request
from .harness import Result

__all__ = ["results"]

PIN = "bench-pin-1234"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _prepare(home: Path) -> tuple[str, str]:
    """A home with a region, a department, its seal, an issuer key and one licence: (issuer key, code)."""
    env = {"TRUSTSVC_HOME": str(home), "TRUSTSVC_HSM_PIN": PIN}
    # The load comes from one address: the per-address verify limit (300/min by default) is off
    # here, as it would be behind a proxy that limits by the real client address.
    write_config(home / "config.toml", {"region": {"code": "320000", "name": "江苏省"},
                                        "limits": {"verify_per_minute": 0, "verify_key_per_minute": 0}})
    svc = open_service(load_config(env), env, create_keystore=True)
    try:
        pki.init_region(svc, "320000", "江苏省", actor="bench")
        pki.add_department(svc, DEPT, "江苏省市场监督管理局", actor="bench")
        make_department_seal(svc, SealRequest(DEPT, "江苏省市场监督管理局", center_text="证照专用章"), actor="bench")
        with svc.db.transaction() as s:
            issuer = create_api_key(s, role="issuer", actor="bench", department_uscc=DEPT,
                                    licence_types=[BUSINESS_LICENCE.code]).token
        row = issue_licence(svc, licence_request(), principal_or_actor="bench", department_uscc=DEPT, timestamp=False)
        return issuer, static_code_text(svc, row.identifier)
    finally:
        svc.close()


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("trustsvc serve exited during start-up")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("trustsvc serve did not become healthy")


def _worker_pids(master: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out]


def _rss_mib(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def _lua(path: Path, body: str, headers: dict[str, str]) -> Path:
    """A wrk script POSTing ``body`` (read from a file: Lua string literals know no \\u escapes)."""
    body_file = path.with_suffix(".body")
    body_file.write_text(body, encoding="utf-8")
    lines = ['wrk.method = "POST"', f'local f = assert(io.open({json.dumps(str(body_file))}, "rb"))',
             "wrk.body = f:read(\"*a\")", "f:close()"]
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([0-9.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def _wrk(url: str, script: Path, *, seconds: int, connections: int) -> dict[str, float]:
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"([0-9]+) requests in", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+([0-9]+)", out)
    socket_errors = re.search(r"Socket errors: connect ([0-9]+), read ([0-9]+), write ([0-9]+), timeout ([0-9]+)", out)
    errors = int(non2xx.group(1)) if non2xx else 0
    if socket_errors:
        errors += sum(int(g) for g in socket_errors.groups())
    return {"rps": rps, "total": total, "p50": p50, "p99": p99, "errors": errors}


def results(*, raw_sign: float, raw_verify: float, quick: bool = False) -> list[Result]:
    if shutil.which("wrk") is None:
        return [Result("HTTP", "not measured", 0.0, "", note="wrk is not installed (Debian package wrk)")]
    if hasattr(os, "sched_setaffinity"):  # the server and wrk get every core; only in-process figures are pinned
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    with tempfile.TemporaryDirectory(prefix="trustsvc-bench-http-") as tmp:
        home = Path(tmp) / "home"
        issuer, code = _prepare(home)
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "TRUSTSVC_HOME": str(home), "TRUSTSVC_HSM_PIN": PIN}
        log = (Path(tmp) / "serve.log").open("wb")
        proc = subprocess.Popen([sys.executable, "-m", "trustsvc.cli", "serve", "--port", str(port), "--workers", "2"],
                                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_healthy(url, proc)
            verify_lua = _lua(Path(tmp) / "verify.lua", json.dumps({"code": code}), {"Content-Type": "application/json"})
            body = {"type": BUSINESS_LICENCE.code, "holder": {"name": "江苏某某科技有限公司", "id_type": "001", "id": COMPANY},
                    "fields": dict(licence_request().fields), "valid_from": "2020-05-01"}
            issue_lua = _lua(Path(tmp) / "issue.lua", json.dumps(body, ensure_ascii=False),
                             {"Content-Type": "application/json", "Authorization": f"Bearer {issuer}"})
            _wrk(f"{url}/api/v1/verify", verify_lua, seconds=3, connections=8)  # warm both workers
            pids = _worker_pids(proc.pid)
            rss_before = _rss_mib(pids)
            verify = _wrk(f"{url}/api/v1/verify", verify_lua, seconds=10, connections=16)
            done = verify["total"]
            target = 10_000 if quick else 100_000
            soak_errors = verify["errors"]
            while done < target:
                more = _wrk(f"{url}/api/v1/verify", verify_lua, seconds=20, connections=16)
                done += more["total"]
                soak_errors += more["errors"]
            rss_after = _rss_mib(pids)
            issue = _wrk(f"{url}/api/v1/licences", issue_lua, seconds=10, connections=8)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
            log.close()
    flat = rss_after <= rss_before * 1.10 + 5
    return [
        Result("HTTP", "verify a service code (anonymous): throughput", verify["rps"], "req/s",
               "provider SM2 verify × 2 cores", 2 * raw_verify, "≥ 1,500 req/s", verify["rps"] >= 1500,
               note="gunicorn 2 workers × 4 threads; wrk 2 threads, 16 connections, 10 s"),
        Result("HTTP", "verify: p50 latency", verify["p50"], "ms"),
        Result("HTTP", "verify: p99 latency", verify["p99"], "ms", target="< 50 ms", met=verify["p99"] < 50),
        Result("HTTP", f"verify: errors over {done:,} requests", float(soak_errors), "", target="0",
               met=soak_errors == 0),
        Result("HTTP", f"workers' RSS after {done:,} verifications", rss_after, "MiB", "RSS after warm-up (MiB)",
               rss_before, "flat (≤ +10 %)", flat),
        Result("HTTP", "issue a licence (with PDF and static code): throughput", issue["rps"], "req/s",
               "provider SM2 sign, 1 core", raw_sign, note="wrk 8 connections, 10 s"),
        Result("HTTP", "issue: p50 latency", issue["p50"], "ms"),
        Result("HTTP", "issue: p99 latency", issue["p99"], "ms"),
        Result("HTTP", "issue: errors", float(issue["errors"]), "", target="0", met=issue["errors"] == 0),
    ]
