"""Bulk import of existing licences: ``trustsvc licence import FILE --workers 2`` into
PostgreSQL, as an operator runs it (validated rows, seal signature, status index, audit; the
MSO and files made later), timed from the command's start so its processes' start-up counts
(about a second for two spawned workers: 20,000 rows keep that a small part of the figure)."""

from __future__ import annotations

import json
import random
import tempfile
import zlib
from pathlib import Path

from trustsvc import pki
from trustsvc.context import TrustService
from trustsvc.sealing import SealRequest, make_department_seal

from .domain import DEPT, bench_service, postgres_database, run_trustsvc
from .harness import Result
from .scale import _dept_uscc, _import_row

__all__ = ["results"]

_WORKERS = 2
_DEPARTMENTS = 4
"""Two a worker: the command gives each worker whole departments (by CRC-32 of the USCC)."""


def _departments(svc: TrustService) -> list[str]:
    """``_DEPARTMENTS`` departments, half of them falling to each of the two workers."""
    by_slot: dict[int, list[str]] = {0: [], 1: []}
    i = 1
    while min(len(v) for v in by_slot.values()) < _DEPARTMENTS // _WORKERS:
        uscc = _dept_uscc(i)
        slot = zlib.crc32(uscc.encode()) % _WORKERS
        if len(by_slot[slot]) < _DEPARTMENTS // _WORKERS:
            by_slot[slot].append(uscc)
        i += 1
    chosen = by_slot[0] + by_slot[1]
    for n, uscc in enumerate(chosen, start=2):
        if uscc == DEPT:  # bench_service made it already
            continue
        pki.add_department(svc, uscc, f"江苏省第{n}证照签发部门", actor="bench")
        make_department_seal(
            svc, SealRequest(uscc, f"江苏省第{n}证照签发部门", center_text="证照专用章"), actor="bench"
        )
    return chosen


def results(*, raw_sign: float, raw_verify: float, quick: bool = False) -> list[Result]:
    n = 800 if quick else 20000
    rng = random.Random(16)
    with postgres_database() as url, tempfile.TemporaryDirectory(prefix="trustsvc-import-") as tmp:
        if url is None:
            return [Result("Bulk import", "PostgreSQL: no server", 0.0, "", note="no PostgreSQL server answered")]
        with bench_service(url) as svc:
            depts = _departments(svc)
            rates = {}
            for workers, offset in ((1, 0), (_WORKERS, n)):
                path = Path(tmp) / f"import-{workers}.jsonl"
                with path.open("w", encoding="utf-8") as fh:
                    for i in range(offset, offset + n):  # the departments interleaved, as a register's export
                        fh.write(json.dumps(_import_row(i + 1, depts[i % len(depts)], rng), ensure_ascii=False) + "\n")
                summary = run_trustsvc(svc, "licence", "import", str(path), "--workers", str(workers))
                if summary["issued"] != n or summary["failed"]:
                    raise RuntimeError(f"the import did not issue every row: {summary}")
                rates[workers] = summary["rate_per_s"]
    one, two = rates[1], rates[_WORKERS]
    note = f"{n:,} rows over {_DEPARTMENTS} departments, a fresh database"
    return [
        Result(
            "Bulk import",
            "`trustsvc licence import` into PostgreSQL, 1 worker (its start-up included)",
            one,
            "/s",
            "provider SM2 sign, 1 core",
            raw_sign,
            "",
            None,
            note=note,
        ),
        Result(
            "Bulk import",
            f"`trustsvc licence import --workers {_WORKERS}` into PostgreSQL (its processes' start-up included)",
            two,
            "/s",
            "provider SM2 sign, 1 core",
            raw_sign,
            "≥ 2,000/s",
            two >= 2000,
            note=note,
        ),
    ]
