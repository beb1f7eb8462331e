"""``make bench-scale``: the service with millions of licences stored in PostgreSQL (issue 16, item 3).

Not part of ``make test`` or ``make bench``. Run as ``python -m bench.scale``; parameters from the
environment: ``SCALE_ROWS`` (licences stored, default 10,000,000), ``SCALE_ISSUERS`` (departments,
default 100), ``SCALE_IMPORT`` (rows through the import path, default 10,000), ``SCALE_DB`` (the
scratch database, default ``trustsvc_scale``, dropped at the end unless ``SCALE_KEEP=1``),
``SCALE_OUT`` (default BENCHMARKS.md; its "Scale" section is replaced), ``SCALE_SETTLE`` (seconds
of quiet after a CHECKPOINT before each set of figures, default 20).

How the rows are filled, and what is honest about them:

1. ``SCALE_IMPORT`` rows go through the import path itself (:func:`trustsvc.licences.bulk.import_rows`,
   what ``trustsvc licence import FILE`` runs): JSON-Lines-shaped rows of 营业执照 spread over every
   department, validated, sealed (a real SM2 seal signature each), status index and audit events
   (``seal.apply``, ``licence.issue``) in the hash chain.
2. The rest is written with PostgreSQL ``COPY``: each department's imported licence is the
   template; every copied row has its own GB/T 36904 identifier (its own serial, years 1995-2014,
   check character), holder (a valid 统一社会信用代码), status index (gap-free per department),
   sealed metadata of the same shape with its own identifier and holder, 2 % revoked and 1 %
   suspended, and both audit events appended to the chain with real SM3 hashes (so ``trustsvc
   audit verify`` walks and checks every row). The metadata signature bytes are the template's
   (a real SES_Signature, but over the template's metadata): signing millions with SM2 would
   measure the signer, which the import rate above already does.

The first department (the bench's) gets up to 1,000,000 licences (4/5 of the rows when fewer), so
its status list has 1 million entries at full size; the others share the rest.

Measured at ``SCALE_IMPORT`` rows and again at ``SCALE_ROWS`` with the same code: single issuance
(issue_licence, one thread), service-code verification offline (exported cache) and online (this
machine's snapshot), licence listing p99 (keyset pages, as ``list_licences`` runs them) and the
audit chain walk (:func:`trustsvc.audit.verify_chain`, what ``trustsvc audit verify`` runs). At
full size only: status-list signing for the large issuer, EXPLAIN of the listing statements, and the
database size per million licences.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import random
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import event, or_, select, text

from trustsvc import pki
from trustsvc.apikeys import Principal, Role, SystemActor
from trustsvc.audit import row_hash
from trustsvc.context import TrustService
from trustsvc.formats.uscc import uscc_check_char
from trustsvc.licences.bulk import import_rows
from trustsvc.licences.identifier import LicenceIdentifier, parse_identifier
from trustsvc.licences.listing import list_licences
from trustsvc.sealing import SealRequest, make_department_seal
from trustsvc.storage.models import AuditEventRecord, AuditHead, Department, LicenceRecord

from .domain import DEPT, _issue, bench_service, postgres_database

__all__ = ["main"]

SERVER = os.environ.get("TRUSTSVC_TEST_DATABASE_URL", "postgresql://postgres:postgres@127.0.0.1:5432/postgres")
LARGE_ISSUER = 1_000_000
SETTLE_S = float(os.environ.get("SCALE_SETTLE", "20"))
"""Seconds of quiet after a CHECKPOINT before each set of figures (``SCALE_SETTLE``)."""


def _log(msg: str) -> None:
    print(f"[{dt.datetime.now(dt.UTC):%H:%M:%S}] {msg}", flush=True)


def _dept_uscc(i: int) -> str:
    if i == 1:
        return DEPT
    base = f"11320000MB{i:07d}"
    return base + uscc_check_char(base)


def _company(n: int) -> str:
    base = f"91320100M{n:08d}"  # 17 characters up to 99,999,999 companies
    return base + uscc_check_char(base)


def _import_row(n: int, dept: str, rng: random.Random) -> dict[str, Any]:
    uscc = _company(n)
    year = rng.randint(2015, 2024)
    established = dt.date(year, rng.randint(1, 12), rng.randint(1, 28))
    return {
        "department": dept,
        "type": "营业执照",
        "issued_on": established.isoformat(),
        "key": f"scale-{n:09d}",
        "fields": {
            "name": f"江苏某某{n}科技有限公司",
            "uscc": uscc,
            "entity_type": "有限责任公司",
            "legal_representative": "张三",
            "business_scope": "软件开发；信息技术咨询服务",
            "registered_capital": f"{rng.randint(1, 999)}万元人民币",
            "established_on": established.isoformat(),
            "domicile": "南京市玄武区中山路1号",
        },
    }


def _timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _statement_kind(sql: str) -> str:
    """A statement's name in the report: its verb and table (and the aggregate it reads)."""
    words = sql.split()
    verb = words[0].upper() if words else "?"
    if verb in ("BEGIN", "COMMIT", "ROLLBACK"):
        return verb
    table = next((w for i, w in enumerate(words) if i and words[i - 1].upper() in ("FROM", "INTO", "UPDATE")), "?")
    if verb == "SELECT" and words[1].lower().startswith("max("):
        return f"SELECT {words[1].split(')')[0]})"  # max(licences.serial), max(licences.status_index)
    if verb == "SELECT" and words[1].startswith("("):
        return f"SELECT (...) FROM {table}"
    return f"{verb} {table}"


class _StatementClock:
    """Client-side time of each kind of statement on ``svc``'s write engine while open (what a
    licence's issuance waits on in the database, round trip included), to say which statement
    a slower issuance at full size spends its time in."""

    def __init__(self, svc: TrustService, into: dict[str, list[float]]) -> None:
        self._engine = svc.db.write_engine
        self._into = into
        self._started: dict[int, float] = {}

    def _before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self._started[id(cursor)] = time.perf_counter()

    def _after(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        began = self._started.pop(id(cursor), None)
        if began is not None:
            entry = self._into.setdefault(_statement_kind(statement), [0.0, 0.0])
            entry[0] += time.perf_counter() - began
            entry[1] += 1

    def __enter__(self) -> _StatementClock:
        event.listen(self._engine, "before_cursor_execute", self._before)
        event.listen(self._engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self._engine, "before_cursor_execute", self._before)
        event.remove(self._engine, "after_cursor_execute", self._after)


def _issue_rate(
    svc: TrustService, seconds: float = 3.0, repeats: int = 3, clock: dict[str, list[float]] | None = None
) -> tuple[float, int]:
    """Median licences/s over ``repeats`` windows, and how many the windows issued; with
    ``clock``, the windows' statements are timed into it (the warm-up's are not)."""
    _issue(svc)
    rates, issued = [], 0
    for _ in range(repeats):
        n, start = 0, time.perf_counter()
        with _StatementClock(svc, clock) if clock is not None else contextlib.nullcontext():
            while time.perf_counter() - start < seconds:
                _issue(svc)
                n += 1
        rates.append(n / (time.perf_counter() - start))
        issued += n
    return statistics.median(rates), issued


def _verify_rates(svc: TrustService) -> tuple[float, float]:
    """Service-code verification per second: offline (exported cache), online (this machine)."""
    import tempfile

    from trustsvc.codes.material import write_code_cache
    from trustsvc.codes.service import static_code_text
    from trustsvc.federation.snapshot import build_snapshot, load_snapshot_cache
    from trustsvc.licences.service import issue_licence
    from trustsvc.verifier import OnlineCodes, verify_code
    from trustsvc.verifier import _decode_cached as decode_cache

    from .domain import licence_request
    from .harness import rate

    row = issue_licence(
        svc, licence_request(), principal_or_actor=SystemActor("bench"), department_uscc=DEPT, timestamp=False
    )
    code = static_code_text(svc, row.identifier)
    with tempfile.TemporaryDirectory(prefix="trustsvc-scale-cache-") as cache_dir:
        write_code_cache(svc, Path(cache_dir))
        cached = load_snapshot_cache(Path(cache_dir))
    first = verify_code(cached, code)
    if first.indication.value != "PASSED":
        raise RuntimeError(f"the bench code does not verify: {first.as_dict()}")
    local = build_snapshot(svc.db, grace=dt.timedelta(days=1))

    def fresh(snapshot: object, **kw: object) -> Callable[[], object]:
        def one() -> object:
            decode_cache.cache_clear()
            return verify_code(snapshot, code, **kw)  # type: ignore[arg-type]

        return one

    return rate(fresh(cached)), rate(fresh(local, online=OnlineCodes(svc.db)))


def _listing(svc: TrustService, rng: random.Random, pages: int = 300) -> dict[str, float]:
    """p99 (ms) of list_licences pages: admin (whole region) at random depths, an issuer's own
    department at random depths, revoked-only for the region and for one department, expired
    for the region (worked out from the end date: migration 0017's index); each page 50 rows,
    keyset cursor."""
    from trustsvc.licences.listing import encode_cursor

    admin = Principal("scale-admin", Role.ADMIN)
    with svc.db.reader() as s:
        top = s.execute(select(LicenceRecord.id).order_by(LicenceRecord.id.desc()).limit(1)).scalar_one()
        depts = list(s.scalars(select(Department.uscc).order_by(Department.id)))
    kinds: dict[str, Callable[[], object]] = {}

    def region_page() -> object:
        cursor = encode_cursor(rng.randint(1, top)) if rng.random() < 0.9 else None
        return list_licences(svc, admin, cursor=cursor)

    def issuer_page() -> object:
        dept = rng.choice(depts)
        who = Principal("scale-issuer", Role.ISSUER, department_uscc=dept)
        cursor = encode_cursor(rng.randint(1, top)) if rng.random() < 0.9 else None
        return list_licences(svc, who, cursor=cursor)

    def revoked_page() -> object:
        cursor = encode_cursor(rng.randint(1, top)) if rng.random() < 0.9 else None
        return list_licences(svc, admin, status="revoked", cursor=cursor)

    def issuer_revoked_page() -> object:
        who = Principal("scale-issuer", Role.ISSUER, department_uscc=rng.choice(depts))
        cursor = encode_cursor(rng.randint(1, top)) if rng.random() < 0.9 else None
        return list_licences(svc, who, status="revoked", cursor=cursor)

    def expired_page() -> object:
        cursor = encode_cursor(rng.randint(1, top)) if rng.random() < 0.9 else None
        return list_licences(svc, admin, status="expired", cursor=cursor)

    kinds = {
        "region": region_page,
        "issuer": issuer_page,
        "revoked": revoked_page,
        "issuer_revoked": issuer_revoked_page,
        "expired": expired_page,
    }
    out = {}
    for name, fn in kinds.items():
        for _ in range(10):
            fn()
        times = sorted(_timed(fn) * 1000 for _ in range(pages))
        out[name] = times[int(len(times) * 0.99) - 1]
    return out


def _audit_walk(svc: TrustService) -> tuple[float, int]:
    from trustsvc.audit import verify_chain

    t = time.perf_counter()
    with svc.db.reader() as s:
        result = verify_chain(s)
    if not result.ok:
        raise RuntimeError(f"audit chain broken: {result.as_dict()}")
    return time.perf_counter() - t, result.rows


def _audit_since_checkpoint(svc: TrustService, new_rows: int = 1000) -> tuple[float, int]:
    """The daily check (`trustsvc audit checkpoint`): sign a checkpoint at the head, append
    ``new_rows`` events, and time the walk from the checkpoint (token and path checked too)."""
    from trustsvc.apikeys import SystemActor
    from trustsvc.audit import AuditEvent, record_many
    from trustsvc.audit_checkpoints import make_checkpoint, verify_since_checkpoint

    make_checkpoint(svc, actor=SystemActor("bench"))
    with svc.db.transaction() as s:
        record_many(s, [AuditEvent("bench", "bench.event", "bench", str(i)) for i in range(new_rows)])
    t = time.perf_counter()
    with svc.db.reader() as s:
        result = verify_since_checkpoint(s)
    if not result.ok or result.checkpoint is None:
        raise RuntimeError(f"audit check from the checkpoint failed: {result.chain.as_dict()}")
    return time.perf_counter() - t, result.chain.rows


def _paired(large: TrustService, base: int, rng: random.Random, rounds: int = 5) -> dict[str, Any]:
    """Issuance and verification at full size against a reference measured in the same minutes:
    a second scratch database with ``base`` licences imported, the two measured in turn
    ``rounds`` times (medians), so the shared machine's load falls on both alike."""
    with postgres_database() as small_url, bench_service(small_url) as small:
        assert small_url is not None
        import_rows(small, _rows(base, [DEPT], rng), actor="bench", file_label="scale-ref.jsonl")
        with psycopg.connect(small_url) as conn:
            conn.execute("ANALYZE")
        _settle(small_url, SETTLE_S)
        runs: dict[str, list[float]] = {
            k: []
            for k in ("issue_small", "issue_large", "offline_small", "offline_large", "online_small", "online_large")
        }
        clocks: dict[str, dict[str, list[float]]] = {"small": {}, "large": {}}
        issued = {"small": 0, "large": 0}
        for r in range(rounds):
            _log(f"  paired round {r + 1}/{rounds}")
            for label, svc in (
                (("small", small), ("large", large)) if r % 2 == 0 else (("large", large), ("small", small))
            ):
                rate, n = _issue_rate(svc, seconds=2.0, repeats=1, clock=clocks[label])
                runs[f"issue_{label}"].append(rate)
                issued[label] += n
                off, on = _verify_rates(svc)
                runs[f"offline_{label}"].append(off)
                runs[f"online_{label}"].append(on)
    out: dict[str, Any] = {k: statistics.median(v) for k, v in runs.items()}
    out["runs"] = runs
    # per kind of statement: microseconds a licence spends waiting on it, at each size
    out["statements"] = {
        label: {kind: total / max(issued[label], 1) * 1e6 for kind, (total, _) in clock.items()}
        for label, clock in clocks.items()
    }
    return out


def _settle(url: str, pause: float) -> None:
    """CHECKPOINT, then wait: a figure taken while PostgreSQL still writes a fill back mixes in
    the disk's backlog (one-thread issuance waits on its commit flush)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
    time.sleep(pause)


def _measure(svc: TrustService, label: str, rng: random.Random) -> dict[str, Any]:
    _settle(str(svc.db.url).replace("postgresql+psycopg://", "postgresql://"), SETTLE_S)
    _log(f"measuring at {label}")
    out: dict[str, Any] = {"issue": _issue_rate(svc)[0]}
    out["offline"], out["online"] = _verify_rates(svc)
    out["listing"] = _listing(svc, rng)
    out["audit_s"], out["audit_rows"] = _audit_walk(svc)
    out["audit_inc_s"], out["audit_inc_rows"] = _audit_since_checkpoint(svc)
    _log(f"  {label}: {json.dumps(out)}")
    return out


def _copy_fill(svc: TrustService, url: str, total: int, rng: random.Random) -> dict[int, int]:
    """COPY licences and their audit events up to ``total`` licences; returns rows per department."""
    with svc.db.reader() as s:
        depts = list(s.execute(select(Department.id, Department.uscc).order_by(Department.id)))
        have = s.execute(select(text("count(*)")).select_from(LicenceRecord)).scalar_one()
        templates: dict[int, LicenceRecord] = {}
        for dept_id, _ in depts:
            row = s.execute(
                select(LicenceRecord).where(LicenceRecord.department_id == dept_id).order_by(LicenceRecord.id).limit(1)
            ).scalar_one()
            s.expunge(row)
            templates[dept_id] = row
        tops: dict[int, int] = dict(
            s.execute(
                select(LicenceRecord.department_id, text("max(status_index)")).group_by(LicenceRecord.department_id)
            ).all()
        )
        events = {
            dept_id: {
                e.action: e
                for e in s.execute(
                    select(AuditEventRecord).where(
                        or_(
                            AuditEventRecord.object_id == tpl.identifier,
                            AuditEventRecord.details.contains(tpl.identifier),
                        )
                    )
                ).scalars()
            }
            for dept_id, tpl in templates.items()
        }
        head = s.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one()
        seq, prev = head.seq, head.hash
    add = max(0, total - have)
    large = min(LARGE_ISSUER, add * 4 // 5)
    share = {depts[0][0]: large}
    rest = add - large
    for i, (dept_id, _) in enumerate(depts[1:]):
        share[dept_id] = rest // (len(depts) - 1) + (1 if i < rest % (len(depts) - 1) else 0)
    cols = (
        "identifier, type_code, department_id, serial, version, status, holder_name, holder_id_type, holder_id, "
        "fields, valid_from, valid_until, issued_at, status_reason, status_changed_at, metadata_json, "
        "metadata_signature, seal_esid, status_index, idempotency_key, request_hash, type_version"
    )
    acols = "seq, ts, actor, action, object_type, object_id, key_ref, details, prev_hash, hash"
    company = 5_000_000
    with _ChunkWriter(url, cols, acols, add) as writer:
        for dept_id, uscc in depts:
            tpl = templates[dept_id]
            tid = parse_identifier(tpl.identifier)
            # the template's columns read once: an ORM attribute costs ~0.4 µs a read, 30 a row
            t_ident, t_holder, t_name, t_meta = tpl.identifier, tpl.holder_id, tpl.holder_name, tpl.metadata_json
            t_type, t_id_type, t_sig, t_esid, t_version = (
                tpl.type_code,
                tpl.holder_id_type,
                tpl.signature_stored,  # compact: the seal is stored once
                tpl.seal_esid,
                tpl.type_version,
            )
            tpl_fields = dict(tpl.fields)
            chained = [
                (ev.actor, ev.action, ev.object_type, ev.object_id == t_ident, ev.object_id, ev.key_ref, ev.details)
                for ev in (events[dept_id]["seal.apply"], events[dept_id]["licence.issue"])
            ]
            index = tops.get(dept_id, -1)
            n_dept = share.get(dept_id, 0)
            for chunk_start in range(0, n_dept, 50_000):
                lic_rows: list[tuple[Any, ...]] = []
                audit_rows: list[tuple[Any, ...]] = []
                for k in range(chunk_start, min(chunk_start + 50_000, n_dept)):
                    company += 1
                    index += 1
                    year = 1995 + k % 20
                    serial = f"{year}{k // 20 + 1:07d}"
                    ident = LicenceIdentifier(tid.type_code, tid.issuer_code, serial, 1).text
                    holder = _company(company)
                    name = f"江苏某某{company}科技有限公司"
                    issued = dt.datetime(year, 1 + k % 12, 1 + k % 28, 9, k % 60, tzinfo=dt.UTC)
                    meta = t_meta.replace(t_ident, ident).replace(t_holder, holder).replace(t_name, name)
                    fields = {**tpl_fields, "uscc": holder, "name": name}
                    roll = rng.random()
                    status, changed = (
                        ("revoked", issued)
                        if roll < 0.02
                        else (("suspended", issued) if roll < 0.03 else ("active", None))
                    )
                    lic_rows.append(
                        (
                            ident,
                            t_type,
                            dept_id,
                            serial,
                            1,
                            status,
                            name,
                            t_id_type,
                            holder,
                            json.dumps(fields, ensure_ascii=False),
                            issued.date(),
                            None,
                            issued,
                            "bench" if changed else None,
                            changed,
                            meta,
                            t_sig,
                            t_esid,
                            index,
                            f"scale-copy-{company}",
                            None,
                            t_version,
                        )
                    )
                    ts = issued.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                    for actor, action, object_type, is_licence, object_id, key_ref, details in chained:
                        seq += 1
                        details = details.replace(t_ident, ident)
                        obj = ident if is_licence else object_id
                        digest = row_hash(prev, seq, ts, actor, action, object_type, obj, key_ref, details)
                        audit_rows.append((seq, ts, actor, action, object_type, obj, key_ref, details, prev, digest))
                        prev = digest
                writer.put(lic_rows, audit_rows, seq, prev, uscc)
    with psycopg.connect(url, autocommit=True) as conn:
        # as a loaded database is left for service: visibility map and hint bits set, statistics
        # fresh, so autovacuum does not start on 30 million new rows while the figures are taken
        conn.execute("VACUUM (ANALYZE)")
    return share


class _ChunkWriter:
    """COPYs each chunk on its own thread while the next is generated: psycopg waits on the server
    without the GIL, so PostgreSQL's work on one core overlaps Python's on the other (the fill
    was ~40 % waiting). One chunk in flight; the first error stops the fill."""

    def __init__(self, url: str, cols: str, acols: str, total: int) -> None:
        import queue
        import threading

        self._url, self._cols, self._acols, self._total = url, cols, acols, total
        self._queue: queue.Queue[tuple[Any, ...] | None] = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="scale-copy", daemon=True)

    def __enter__(self) -> _ChunkWriter:
        self._thread.start()
        return self

    def put(
        self, lic_rows: list[tuple[Any, ...]], audit_rows: list[tuple[Any, ...]], seq: int, head: str, uscc: str
    ) -> None:
        if self._error is not None:
            raise RuntimeError("the COPY thread failed") from self._error
        self._queue.put((lic_rows, audit_rows, seq, head, uscc))

    def __exit__(self, *exc: object) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None and exc[0] is None:
            raise RuntimeError("the COPY thread failed") from self._error

    def _run(self) -> None:
        done, start = 0, time.perf_counter()
        try:
            with psycopg.connect(self._url) as conn:
                while (item := self._queue.get()) is not None:
                    lic_rows, audit_rows, seq, head, uscc = item
                    with conn.cursor() as cur:
                        with cur.copy(f"COPY licences ({self._cols}) FROM STDIN") as cp:
                            for r in lic_rows:
                                cp.write_row(r)
                        with cur.copy(f"COPY audit_log ({self._acols}) FROM STDIN") as cp:
                            for r in audit_rows:
                                cp.write_row(r)
                        cur.execute("UPDATE audit_head SET seq = %s, hash = %s WHERE id = 1", (seq, head))
                    conn.commit()
                    done += len(lic_rows)
                    el = time.perf_counter() - start
                    _log(f"  COPY {done:,}/{self._total:,} licences ({done / el:,.0f}/s), department {uscc}")
        except BaseException as e:  # reported to the generating thread on its next put
            self._error = e
            while self._queue.get() is not None:  # drain so the producer never blocks
                pass


def _explain(url: str) -> dict[str, str]:
    """EXPLAIN (ANALYZE) of the statements list_licences issues (its page_statement, compiled for
    PostgreSQL with the cursor at the middle of the table as a literal)."""
    from sqlalchemy.dialects import postgresql

    from trustsvc.licences.listing import page_statement

    out = {}
    with psycopg.connect(url) as conn:
        top = conn.execute("SELECT max(id) FROM licences").fetchone()[0]  # type: ignore[index]
        mid = top // 2
        stmts = {
            "region, page at the middle": page_statement(after=mid),
            "one issuer (a small department), page at the middle": page_statement(
                department_uscc=_dept_uscc(2), after=mid
            ),
            "revoked, page at the middle": page_statement(status="revoked", after=mid),
            "one issuer's revoked (the largest department), page at the middle": page_statement(
                status="revoked", department_uscc=_dept_uscc(1), after=mid
            ),
            "expired, page at the middle": page_statement(status="expired", after=mid),
        }
        for name, stmt in stmts.items():
            sql = str(stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
            plan = conn.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + sql).fetchall()  # type: ignore[call-overload]
            out[name] = "\n".join(r[0] for r in plan)
    return out


def _sizes(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        out = {"database": conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]}  # type: ignore[index]
        for table in ("licences", "audit_log", "status_lists"):
            tbl, idx = conn.execute(f"SELECT pg_table_size('{table}'), pg_indexes_size('{table}')").fetchone()  # type: ignore[misc]
            out[f"{table}.table"], out[f"{table}.indexes"] = tbl, idx
        row = conn.execute(
            "SELECT avg(octet_length(metadata_signature)), avg(octet_length(metadata_json)), "
            "avg(pg_column_size(licences.*)) FROM licences"
        ).fetchone()
        assert row is not None
        out["avg.signature"], out["avg.metadata"], out["avg.row"] = (int(v) for v in row)
    return out


def _status_list_sign(svc: TrustService, entries: int) -> tuple[float, int]:
    """Median time to build and sign the largest department's list, sized to cover ``entries``
    (status_lists._build with ``cover``, as issuance does when an index crosses a block): its
    revoked and suspended rows read, both bitsets encoded, the CMS signed and stored."""
    from trustsvc.status_lists import _build, _head, lock_status_list
    from trustsvc.storage.models import utcnow

    times, size = [], 0
    for _ in range(3):
        with svc.db.transaction() as s:
            dept = s.execute(select(Department).where(Department.uscc == DEPT)).scalar_one()
            t = time.perf_counter()
            lock_status_list(s, dept.id)
            head = _head(s, dept.id)
            row = _build(svc, s, dept, (head.sequence if head else 0) + 1, utcnow(), cover=entries - 1)
            times.append(time.perf_counter() - t)
            size = row.size
    return statistics.median(times), size


def _rows(n: int, depts: list[str], rng: random.Random) -> Iterator[tuple[int, Any]]:
    for i in range(n):
        # one department after another, as a department's export would be (a batch of 250 rows that
        # spans ~100 departments failed in sign_document here: see docs/scale.md)
        yield i + 1, _import_row(i + 1, depts[i * len(depts) // n], rng)


def main() -> None:
    rows = int(os.environ.get("SCALE_ROWS", "10000000"))
    issuers = int(os.environ.get("SCALE_ISSUERS", "100"))
    base = int(os.environ.get("SCALE_IMPORT", "10000"))
    name = os.environ.get("SCALE_DB", "trustsvc_scale")
    out_path = Path(os.environ.get("SCALE_OUT", "BENCHMARKS.md"))
    rng = random.Random(16)
    plain = SERVER.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    url = plain.rsplit("/", 1)[0] + "/" + name
    began = time.perf_counter()
    report: dict[str, Any] = {"rows": rows, "issuers": issuers, "import": base}
    try:
        with bench_service(url.replace("postgresql://", "postgresql+psycopg://")) as svc:
            t = time.perf_counter()
            depts = [_dept_uscc(i) for i in range(1, issuers + 1)]
            for i, uscc in enumerate(depts[1:], start=2):
                pki.add_department(svc, uscc, f"江苏省第{i}证照签发部门", actor="bench")
                make_department_seal(
                    svc, SealRequest(uscc, f"江苏省第{i}证照签发部门", center_text="证照专用章"), actor="bench"
                )
            report["departments_s"] = time.perf_counter() - t
            _log(f"{issuers} departments with seals in {report['departments_s']:.1f} s")
            t = time.perf_counter()
            imp = import_rows(svc, _rows(base, depts, rng), actor="bench", file_label="scale.jsonl")
            report["import_s"] = time.perf_counter() - t
            report["import_ok"] = imp.as_dict()
            _log(f"import path: {base:,} rows in {report['import_s']:.1f} s: {imp.as_dict()}")
            with psycopg.connect(url) as conn:
                conn.execute("ANALYZE")
            report["small"] = _measure(svc, f"{base:,}", rng)
            t = time.perf_counter()
            report["share"] = _copy_fill(svc, url, rows, rng)
            report["copy_s"] = time.perf_counter() - t
            with svc.db.reader() as s:
                report["stored"] = s.execute(select(text("count(*)")).select_from(LicenceRecord)).scalar_one()
            report["large"] = _measure(svc, f"{report['stored']:,}", rng)
            report["paired"] = _paired(svc, base, rng)
            _log(f"  paired: {json.dumps({k: v for k, v in report['paired'].items() if k != 'runs'})}")
            report["status_list_s"], report["status_list_size"] = _status_list_sign(svc, LARGE_ISSUER)
            report["explain"] = _explain(url)
            report["sizes"] = _sizes(url)
            report["total_s"] = time.perf_counter() - began
            _log(json.dumps({k: v for k, v in report.items() if k != "explain"}, default=str))
            Path(os.environ.get("SCALE_JSON", "/tmp/trustsvc-scale-report.json")).write_text(
                json.dumps(report, default=str), encoding="utf-8"
            )
            _write(out_path, report)
    finally:
        if os.environ.get("SCALE_KEEP") != "1":
            with psycopg.connect(plain, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            _log(f"dropped {name}")


def _write(path: Path, r: dict[str, Any]) -> None:
    small, large = r["small"], r["large"]
    stored, base = r["stored"], r["import"]
    sizes = r["sizes"]
    big = max(r["share"].values())
    per_m = sizes["database"] / stored * 1_000_000 / 2**30

    def pct(a: float, b: float) -> str:
        return f"{(b / a - 1) * 100:+.1f} %"

    lines = [
        "## Scale",
        "",
        f"From `make bench-scale` (bench/scale.py), {dt.date.today().isoformat()}, PostgreSQL on this shared 2-core "
        f"machine: {stored:,} licences stored across {r['issuers']} departments (SCALE_ROWS={r['rows']:,}; the whole "
        f"run took {r['total_s'] / 60:.0f} minutes). "
        f"{base:,} rows went through the import path (`import_rows`, what `trustsvc licence import` runs: validated, "
        f"sealed, status index, audit) in {r['import_s']:.1f} s ({base / r['import_s']:,.0f}/s, one process); the other "
        f"{sum(r['share'].values()):,} were written with COPY in {r['copy_s']:.0f} s, cloned from each department's imported "
        "licence with their own identifiers, serials, holders, status indexes, sealed-metadata text and chained "
        "audit events (the metadata signature bytes are the template's; see the module docstring). "
        f"The largest department holds {big:,} licences.",
        "",
        f"| figure | at {base:,} | at {stored:,} | change | target |",
        "|---|---:|---:|---:|---|",
        f"| issuance, one thread (issue_licence, no file) | {small['issue']:,.0f}/s | {large['issue']:,.0f}/s | "
        f"{pct(small['issue'], large['issue'])} | within 10 % |",
        f"| service-code verification, offline (exported cache) | {small['offline']:,.0f}/s | {large['offline']:,.0f}/s "
        f"| {pct(small['offline'], large['offline'])} | within 10 % |",
        f"| service-code verification, online (this machine's snapshot) | {small['online']:,.0f}/s | "
        f"{large['online']:,.0f}/s | {pct(small['online'], large['online'])} | within 10 % |",
    ]
    paired = r.get("paired")
    if paired:
        for key, label in (
            ("issue", "issuance, one thread, measured in turn with the reference"),
            ("offline", "offline verification, measured in turn with the reference"),
            ("online", "online verification, measured in turn with the reference"),
        ):
            a, b = paired[f"{key}_small"], paired[f"{key}_large"]
            lines.append(
                f"| {label} (median of {len(paired['runs'][f'{key}_small'])}) | {a:,.0f}/s | {b:,.0f}/s | "
                f"{pct(a, b)} | within 10 % |"
            )
    for kind, label in (
        ("region", "whole region (admin)"),
        ("issuer", "one department (issuer)"),
        ("revoked", "revoked only"),
        ("issuer_revoked", "one department's revoked"),
        ("expired", "expired only"),
    ):
        lines.append(
            f"| listing p99, {label}, random keyset depth | {small['listing'][kind]:.1f} ms | "
            f"{large['listing'][kind]:.1f} ms | | < 50 ms |"
        )
    lines += [
        f"| audit chain walk (verify_chain, `trustsvc audit verify`) | {small['audit_s']:.1f} s "
        f"({small['audit_rows']:,} rows) | {large['audit_s']:.1f} s ({large['audit_rows']:,} rows) | | |",
        f"| audit check since a signed checkpoint (`trustsvc audit checkpoint`, 1,000 new rows) | "
        f"{small['audit_inc_s'] * 1000:.0f} ms ({small['audit_inc_rows']:,} rows) | "
        f"{large['audit_inc_s'] * 1000:.0f} ms ({large['audit_inc_rows']:,} rows) | | |",
        "",
        f"Status list of the largest department sized to {r['status_list_size']:,} entries (status_lists._build "
        f"with cover, as issuance does when an index crosses a 131,072-bit block; its {big:,} rows read for the "
        f"revoked and suspended bits, both bitsets encoded, the CMS signed and stored): "
        f"{r['status_list_s'] * 1000:,.0f} ms, median of 3 (target < 1 s).",
        "",
        f"Database size: {sizes['database'] / 2**30:.2f} GiB for {stored:,} licences, {per_m:.2f} GiB per million "
        f"(licences {sizes['licences.table'] / 2**20:,.0f} MiB + indexes {sizes['licences.indexes'] / 2**20:,.0f} MiB; "
        f"audit log {sizes['audit_log.table'] / 2**20:,.0f} MiB + indexes {sizes['audit_log.indexes'] / 2**20:,.0f} MiB; "
        f"status lists {sizes['status_lists.table'] / 2**20:,.1f} MiB). An average licence row is "
        f"{sizes['avg.row']:,} bytes, of which the stored metadata signature is {sizes['avg.signature']:,} (the "
        "GB/T 38540 SES_Signature without the seal it carries, which is stored once per department and put back "
        f"on read: trustsvc/storage/signatures.py) and the sealed metadata {sizes['avg.metadata']:,}.",
        "",
    ]
    statements = (paired or {}).get("statements")
    if statements:
        small_s, large_s = statements["small"], statements["large"]
        lines += [
            "Where one-thread issuance waits on the database, in the paired rounds (client-side time of each "
            "kind of statement, round trip included, per licence; bench/scale.py `_StatementClock`; the rest "
            "of a licence's time is Python, the SM2 operations and the commit):",
            "",
            f"| statement | at {base:,} (µs a licence) | at {stored:,} (µs a licence) | change |",
            "|---|---:|---:|---:|",
        ]
        for kind in sorted(set(small_s) | set(large_s), key=lambda k: -large_s.get(k, 0.0)):
            a, b = small_s.get(kind, 0.0), large_s.get(kind, 0.0)
            lines.append(f"| `{kind}` | {a:,.0f} | {b:,.0f} | {b - a:+,.0f} |")
        a, b = sum(small_s.values()), sum(large_s.values())
        lines += [f"| all statements | {a:,.0f} | {b:,.0f} | {b - a:+,.0f} |", ""]
    lines += [
        "EXPLAIN (ANALYZE) of the listing statements at full size:",
        "",
    ]
    for name, plan in r["explain"].items():
        lines += [f"{name}:", "", "```", plan, "```", ""]
    section = "\n".join(lines).rstrip() + "\n"
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if "\n## Scale\n" in old:
        head, _, tail = old.partition("\n## Scale\n")
        nxt = tail.find("\n## ")
        old = head.rstrip() + "\n" + (tail[nxt:] if nxt >= 0 else "")
    path.write_text(old.rstrip() + "\n\n\n" + section, encoding="utf-8")


if __name__ == "__main__":
    main()
