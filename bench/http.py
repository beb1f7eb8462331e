"""The HTTP service under load: gunicorn with 2 workers (``trustsvc serve``), load from wrk in a
separate process. Verify (anonymous, the public /verify path: a service code, then a licence
PDF) and issue throughput, p50/p99, errors, and the workers' RSS before and after 100,000
verifications. The machine is shared, so each verify run also says how much of the machine's
CPU other processes used meanwhile."""

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
from trustsvc.apikeys import SystemActor, create_api_key
from trustsvc.codes.service import static_code_text
from trustsvc.config import load_config, write_config
from trustsvc.context import open_service
from trustsvc.licences.catalogue import BUSINESS_LICENCE
from trustsvc.licences.files import ensure_licence_file
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


def _prepare(home: Path) -> tuple[str, str, bytes]:
    """A home with a region, a department, its seal, an issuer key and one licence: (issuer key,
    its static code, its PDF)."""
    env = {"TRUSTSVC_HOME": str(home), "TRUSTSVC_HSM_PIN": PIN}
    # The load comes from one address: the per-address verify limit (300/min by default) is off
    # here, as it would be behind a proxy that limits by the real client address.
    write_config(
        home / "config.toml",
        {
            "region": {"code": "320000", "name": "江苏省"},
            "limits": {"verify_per_minute": 0, "verify_key_per_minute": 0},
        },
    )
    svc = open_service(load_config(env), env, create_keystore=True)
    try:
        pki.init_region(svc, "320000", "江苏省", actor="bench")
        pki.add_department(svc, DEPT, "江苏省市场监督管理局", actor="bench")
        make_department_seal(svc, SealRequest(DEPT, "江苏省市场监督管理局", center_text="证照专用章"), actor="bench")
        with svc.db.transaction() as s:
            issuer = create_api_key(
                s, role="issuer", actor="bench", department_uscc=DEPT, licence_types=[BUSINESS_LICENCE.code]
            ).token
        row = issue_licence(
            svc, licence_request(), principal_or_actor=SystemActor("bench"), department_uscc=DEPT, timestamp=False
        )
        pdf = ensure_licence_file(svc, row.identifier, actor="bench").content
        return issuer, static_code_text(svc, row.identifier), pdf
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


def _lua(path: Path, body: str | bytes, headers: dict[str, str]) -> Path:
    """A wrk script POSTing ``body`` (read from a file: Lua string literals know no \\u escapes)."""
    body_file = path.with_suffix(".body")
    body_file.write_bytes(body if isinstance(body, bytes) else body.encode("utf-8"))
    lines = [
        'wrk.method = "POST"',
        f'local f = assert(io.open({json.dumps(str(body_file))}, "rb"))',
        'wrk.body = f:read("*a")',
        "f:close()",
    ]
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([0-9.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def _wrk(url: str, script: Path, *, seconds: int, connections: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
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


def _verified(url: str, body: bytes, content_type: str) -> str:
    """The indication one verification of ``body`` gets (the load runs only on PASSED objects)."""
    req = urllib.request.Request(
        f"{url}/api/v1/verify", data=body, method="POST", headers={"Content-Type": content_type}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return str(json.load(resp)["indication"])


def _busy_ticks() -> int:
    """CPU ticks the whole machine spent busy (not idle, not waiting for I/O) since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]  # guest is in user
    return sum(fields) - fields[3] - fields[4]


def _process_ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total


def _loaded_wrk(url: str, script: Path, server: list[int], *, seconds: int, connections: int) -> dict[str, float]:
    """:func:`_wrk`, plus the share of the machine's CPU that processes other than the server and
    wrk used during the run (other people's work on a shared machine), in %."""
    busy, ours = _busy_ticks(), _process_ticks(server)
    children = os.times()
    found = _wrk(url, script, seconds=seconds, connections=connections)
    after = os.times()
    hz = os.sysconf("SC_CLK_TCK")
    wrk_ticks = (
        (after.children_user - children.children_user) + (after.children_system - children.children_system)
    ) * hz
    other = (_busy_ticks() - busy) - (_process_ticks(server) - ours) - wrk_ticks
    capacity = seconds * hz * (os.cpu_count() or 1)
    found["other_cpu"] = max(0.0, 100.0 * other / capacity)
    found["load"] = os.getloadavg()[0]
    return found


def results(*, raw_sign: float, raw_verify: float, quick: bool = False) -> list[Result]:
    if shutil.which("wrk") is None:
        return [Result("HTTP", "not measured", 0.0, "", note="wrk is not installed (Debian package wrk)")]
    if hasattr(os, "sched_setaffinity"):  # the server and wrk get every core; only in-process figures are pinned
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    with tempfile.TemporaryDirectory(prefix="trustsvc-bench-http-") as tmp:
        home = Path(tmp) / "home"
        issuer, code, pdf = _prepare(home)
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "TRUSTSVC_HOME": str(home), "TRUSTSVC_HSM_PIN": PIN}
        log = (Path(tmp) / "serve.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "trustsvc.cli", "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_healthy(url, proc)
            for sample, kind in ((json.dumps({"code": code}).encode(), "application/json"), (pdf, "application/pdf")):
                if (indication := _verified(url, sample, kind)) != "PASSED":
                    raise RuntimeError(f"the bench {kind} object verifies {indication}, not PASSED")
            verify_lua = _lua(
                Path(tmp) / "verify.lua", json.dumps({"code": code}), {"Content-Type": "application/json"}
            )
            pdf_lua = _lua(Path(tmp) / "pdf.lua", pdf, {"Content-Type": "application/pdf"})
            body = {
                "type": BUSINESS_LICENCE.code,
                "holder": {"name": "江苏某某科技有限公司", "id_type": "001", "id": COMPANY},
                "fields": dict(licence_request().fields),
                "valid_from": "2020-05-01",
            }
            issue_lua = _lua(
                Path(tmp) / "issue.lua",
                json.dumps(body, ensure_ascii=False),
                {"Content-Type": "application/json", "Authorization": f"Bearer {issuer}"},
            )
            _wrk(f"{url}/api/v1/verify", verify_lua, seconds=3, connections=8)  # warm both workers
            pids = _worker_pids(proc.pid)
            rss_before = _rss_mib(pids)
            server = [proc.pid, *pids]
            verify = _loaded_wrk(f"{url}/api/v1/verify", verify_lua, server, seconds=10, connections=16)
            done = verify["total"]
            target = 10_000 if quick else 100_000
            soak_errors = verify["errors"]
            while done < target:
                more = _wrk(f"{url}/api/v1/verify", verify_lua, seconds=20, connections=16)
                done += more["total"]
                soak_errors += more["errors"]
            rss_after = _rss_mib(pids)
            _wrk(f"{url}/api/v1/verify", pdf_lua, seconds=2, connections=8)  # warm the PDF path
            pdf_run = _loaded_wrk(f"{url}/api/v1/verify", pdf_lua, server, seconds=10, connections=16)
            issue = _wrk(f"{url}/api/v1/licences", issue_lua, seconds=10, connections=8)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
            log.close()
    flat = rss_after <= rss_before * 1.10 + 5
    return [
        Result(
            "HTTP",
            "verify a service code (anonymous): throughput",
            verify["rps"],
            "req/s",
            "provider SM2 verify × 2 cores",
            2 * raw_verify,
            "≥ 1,500 req/s",
            verify["rps"] >= 1500,
            note="gunicorn 2 workers × 4 threads; wrk 2 threads, 16 connections, 10 s",
            previous="464–564 req/s",
        ),
        Result("HTTP", "verify: p50 latency", verify["p50"], "ms", previous="32.9 ms"),
        Result(
            "HTTP",
            "verify: p99 latency",
            verify["p99"],
            "ms",
            target="< 50 ms",
            met=verify["p99"] < 50,
            previous="56–84 ms",
        ),
        Result(
            "HTTP",
            f"verify: errors over {done:,} requests",
            float(soak_errors),
            "",
            target="0",
            met=soak_errors == 0,
            previous="0",
        ),
        Result(
            "HTTP",
            "verify: CPU other processes used during the 10 s run (share of the machine)",
            verify["other_cpu"],
            "%",
            note=f"1-minute load average at its end {verify['load']:.1f}",
        ),
        Result(
            "HTTP",
            f"verify a licence PDF (anonymous, {len(pdf) // 1024} KiB): throughput",
            pdf_run["rps"],
            "req/s",
            "provider SM2 verify × 2 cores",
            2 * raw_verify,
            note="same server; wrk 2 threads, 16 connections, 10 s",
            previous="not measured",
        ),
        Result("HTTP", "verify PDF: p50 latency", pdf_run["p50"], "ms"),
        Result("HTTP", "verify PDF: p99 latency", pdf_run["p99"], "ms"),
        Result("HTTP", "verify PDF: errors", float(pdf_run["errors"]), "", target="0", met=pdf_run["errors"] == 0),
        Result(
            "HTTP",
            "verify PDF: CPU other processes used during the run (share of the machine)",
            pdf_run["other_cpu"],
            "%",
            note=f"1-minute load average at its end {pdf_run['load']:.1f}",
        ),
        Result(
            "HTTP",
            f"workers' RSS after {done:,} verifications",
            rss_after,
            "MiB",
            "RSS after warm-up (MiB)",
            rss_before,
            "flat (≤ +10 %)",
            flat,
        ),
        Result(
            "HTTP",
            "issue a licence (with PDF and static code): throughput",
            issue["rps"],
            "req/s",
            "provider SM2 sign, 1 core",
            raw_sign,
            note="wrk 8 connections, 10 s",
        ),
        Result("HTTP", "issue: p50 latency", issue["p50"], "ms"),
        Result("HTTP", "issue: p99 latency", issue["p99"], "ms"),
        Result("HTTP", "issue: errors", float(issue["errors"]), "", target="0", met=issue["errors"] == 0),
    ]
