"""Domain figures: licence issuance (SQLite, PostgreSQL), SES verification and path validation,
each set against the raw provider rate measured in the same run."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ca.validate import validate_path
from trustsvc import pki
from trustsvc.apikeys import SystemActor
from trustsvc.config import load_config, write_config
from trustsvc.context import TrustService, open_service
from trustsvc.federation.local_trust import local_trust_context
from trustsvc.formats.uscc import uscc_check_char
from trustsvc.licences.catalogue import BUSINESS_LICENCE
from trustsvc.licences.service import LicenceRequest, issue_licence
from trustsvc.sealing import SealRequest, apply_seal, make_department_seal
from trustsvc.storage.models import CertificateRecord
from trustsvc.verify import verify_bytes

from .harness import Result, rate

__all__ = [
    "DEPT",
    "bench_service",
    "run_trustsvc",
    "postgres_database",
    "issuance_results",
    "verification_results",
    "licence_request",
]

DEPT = "11320000MB0000001G"
_COMPANY = "91320100MA1ABCDE0"
COMPANY = _COMPANY + uscc_check_char(_COMPANY)


def licence_request() -> LicenceRequest:
    return LicenceRequest(
        type_code=BUSINESS_LICENCE.code,
        holder_name="江苏某某科技有限公司",
        holder_id_type="001",
        holder_id=COMPANY,
        fields={
            "name": "江苏某某科技有限公司",
            "uscc": COMPANY,
            "entity_type": "有限责任公司",
            "legal_representative": "张三",
            "business_scope": "软件开发；信息技术咨询服务",
            "registered_capital": "500万元人民币",
            "established_on": "2020-05-01",
            "domicile": "南京市玄武区中山路1号",
        },
        valid_from=dt.date(2020, 5, 1),
    )


@contextlib.contextmanager
def postgres_database() -> Iterator[str | None]:
    """A throw-away PostgreSQL database (None when no server answers)."""
    import psycopg

    server = os.environ.get("TRUSTSVC_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    plain = server.replace("postgresql+psycopg://", "postgresql://")
    name = f"trustsvc_bench_{secrets.token_hex(4)}"
    try:
        admin = psycopg.connect(plain, autocommit=True, connect_timeout=5)
    except psycopg.Error:
        yield None
        return
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield plain.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(plain, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


BENCH_PIN = "bench-pin-1234"


@contextlib.contextmanager
def bench_service(database_url: str | None = None) -> Iterator[TrustService]:
    """A service in a temporary home: region 320000, one department and its seal."""
    with tempfile.TemporaryDirectory(prefix="trustsvc-bench-") as tmp:
        home = Path(tmp)
        env = {
            "TRUSTSVC_HOME": str(home),
            "TRUSTSVC_HSM_PIN": BENCH_PIN,
            "DATABASE_URL": database_url or f"sqlite:///{home / 'bench.db'}",
        }
        write_config(home / "config.toml", {"region": {"code": "320000", "name": "江苏省"}})
        svc = open_service(load_config(env), env, create_keystore=True)
        try:
            pki.init_region(svc, "320000", "江苏省", actor="bench")
            pki.add_department(svc, DEPT, "江苏省市场监督管理局", actor="bench")
            make_department_seal(
                svc, SealRequest(DEPT, "江苏省市场监督管理局", center_text="证照专用章"), actor="bench"
            )
            yield svc
        finally:
            svc.close()


def _child_env(svc: TrustService) -> dict[str, str]:
    """The environment a child process needs to open ``svc``: its home, PIN and database."""
    config = svc.config
    return {
        **os.environ,
        "TRUSTSVC_HOME": str(config.home),
        "TRUSTSVC_HSM_PIN": BENCH_PIN,
        "DATABASE_URL": config.database.url,
    }


def _every_core() -> Any:
    """A preexec_fn giving a child every core (the bench itself is pinned to one, and children
    inherit that), or None where affinity is not a thing."""
    cores = set(range(os.cpu_count() or 1))
    return (lambda: os.sched_setaffinity(0, cores)) if hasattr(os, "sched_setaffinity") else None


def run_trustsvc(svc: TrustService, *args: str, timeout: float = 1800) -> dict[str, Any]:
    """``trustsvc ARGS`` against ``svc``'s home and database, as an operator runs it, on every
    core; its JSON output."""
    done = subprocess.run(
        [sys.executable, "-m", "trustsvc.cli", *args],
        env=_child_env(svc),
        capture_output=True,
        text=True,
        check=True,
        timeout=timeout,
        preexec_fn=_every_core(),
    )
    out: dict[str, Any] = json.loads(done.stdout)
    return out


def _issue(svc: TrustService, department: str = DEPT) -> None:
    issue_licence(
        svc, licence_request(), principal_or_actor=SystemActor("bench"), department_uscc=department, timestamp=False
    )


def _threaded_rate(svc: TrustService, threads: int, seconds: float = 3.0) -> float:
    stop = time.perf_counter() + seconds
    counts = [0] * threads

    def worker(i: int) -> None:
        while time.perf_counter() < stop:
            _issue(svc)
            counts[i] += 1

    start = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(counts) / (time.perf_counter() - start)


def _processes_rate(
    svc: TrustService, processes: int, threads: int, seconds: float = 3.0, departments: tuple[str, ...] = (DEPT,)
) -> float:
    """Licences per second from ``processes`` issuing processes of ``threads`` threads each, on
    every core (bench/issue_worker.py): a node's workers, as ``trustsvc serve --workers N`` runs
    them, on one database; process i issues for ``departments[i % len(departments)]``."""
    start = time.time() + 10  # start-up (imports, the keystore, warm-up) well before
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.issue_worker", str(threads), repr(start), repr(seconds), dept],
            env=_child_env(svc),
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=_every_core(),
        )
        for dept in (departments[i % len(departments)] for i in range(processes))
    ]
    total = 0
    for proc in procs:
        out, _ = proc.communicate(timeout=180)
        if proc.returncode != 0:
            raise RuntimeError(f"an issuing process failed ({proc.returncode})")
        report = json.loads(out.strip().splitlines()[-1])
        if report["late"]:
            raise RuntimeError("an issuing process started after the window opened")
        total += int(report["issued"])
    return total / seconds


def issuance_results(raw_sign: float) -> list[Result]:
    """Licences issued per second (validate, serial, seal signature, audit, commit; no PDF, no TSA)."""
    out = []
    with postgres_database() as pg_url:
        for label, url in (("SQLite (WAL)", None), ("PostgreSQL", pg_url)):
            if label == "PostgreSQL" and url is None:
                out.append(Result("Issuance", "PostgreSQL: no server", 0.0, "", note="no PostgreSQL server answered"))
                continue
            with bench_service(url) as svc:
                one = rate(lambda svc=svc: _issue(svc), seconds=1.0, repeats=3)  # type: ignore[misc]
                two = _threaded_rate(svc, threads=4)
                node = _processes_rate(svc, processes=2, threads=4)
                other = _second_department(svc)
                spread = _processes_rate(svc, processes=2, threads=4, departments=(DEPT, other))
            out.append(
                Result(
                    "Issuance",
                    f"{label}: 1 thread",
                    one,
                    "/s",
                    "provider SM2 sign, 1 core",
                    raw_sign,
                    "≥ 500/s (any threads)",
                    None,
                )
            )
            out.append(
                Result(
                    "Issuance",
                    f"{label}: 4 threads",
                    two,
                    "/s",
                    "provider SM2 sign, 1 core",
                    raw_sign,
                    "≥ 500/s",
                    max(one, two) >= 500,
                    note="one process, pinned to one core",
                )
            )
            out.append(
                Result(
                    "Issuance",
                    f"{label}: 2 processes × 4 threads",
                    node,
                    "/s",
                    "provider SM2 sign, 1 core",
                    raw_sign,
                    "≥ 500/s (one node)",
                    node >= 500,
                    note="both cores, as `trustsvc serve --workers 2` runs its workers; one department",
                )
            )
            out.append(
                Result(
                    "Issuance",
                    f"{label}: 2 processes × 4 threads, 2 departments",
                    spread,
                    "/s",
                    "provider SM2 sign, 1 core",
                    raw_sign,
                    "≥ 500/s (one node)",
                    spread >= 500,
                    note="each process for its own department",
                )
            )
    return out


def _second_department(svc: TrustService) -> str:
    """Another department with its seal, for the figure whose processes issue for different ones."""
    uscc = "11320000MB0000002K"
    pki.add_department(svc, uscc, "江苏省公安厅", actor="bench")
    make_department_seal(svc, SealRequest(uscc, "江苏省公安厅", center_text="证照专用章"), actor="bench")
    return uscc


def verification_results(raw_verify: float) -> list[Result]:
    with bench_service() as svc:
        applied = apply_seal(svc, _seal_esid(svc), b"bench document" * 64, actor="bench", timestamp=False)
        trust = local_trust_context(svc.db)
        document = b"bench document" * 64
        ses = rate(lambda: verify_bytes(applied.signature, trust=trust, original=document))
        with svc.db.reader() as s:
            certs = {r.slug: r.der for r in s.query(CertificateRecord).all()}
    leaf, ca, root = certs[f"{DEPT}/signer"], certs[DEPT], certs["root"]
    now = dt.datetime.now(dt.UTC)

    def cold_path() -> None:
        _clear_caches()
        validate_path(leaf, intermediates=(ca,), anchors=(root,), at=now)

    cold = rate(cold_path)
    cached = rate(lambda: validate_path(leaf, intermediates=(ca,), anchors=(root,), at=now))
    return [
        Result(
            "Verification",
            "SES_Signature report (seal + signer + 2 paths + DB status)",
            ses,
            "/s",
            "provider SM2 verify, 1 core",
            raw_verify,
            note="caches warm (as in a running service)",
        ),
        Result(
            "Verification",
            "path validation, cold (caches cleared each time)",
            cold,
            "/s",
            "provider SM2 verify, 1 core",
            raw_verify,
            note="2 links: parse 3 certificates, 2 SM2 verifications",
        ),
        Result(
            "Verification",
            "path validation, cached (parsed certificates, verified links)",
            cached,
            "/s",
            "provider SM2 verify, 1 core",
            raw_verify,
            note="what a running service sees for a known chain",
        ),
    ]


def _clear_caches() -> None:
    """Forget parsed certificates, parsed keys and verified signatures (a cold start)."""
    from ca import _signature, certs
    from hsm import keys

    certs._parse_der.cache_clear()
    _signature._verify_cached.cache_clear()
    keys.load_public_key.cache_clear()  # type: ignore[attr-defined]


def _seal_esid(svc: TrustService) -> str:
    from trustsvc.storage.models import SealRecord

    with svc.db.reader() as s:
        return s.query(SealRecord.esid).one()[0]
