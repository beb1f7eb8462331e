"""Issuing many licences in one transaction: the engine behind single issuance (group commit)
and bulk import.

A durable commit costs one flush of the disk (about 3 ms on a virtual disk, whatever is in
it), and every issuer of a department queues on its row lock until that flush is done. So
licences are issued in batches: one transaction allocates serials and status indexes for all of
them (one grouped read each), takes the department's checked seal, certificates and key (reused
between batches while nothing about them changed: :func:`_seal_context`), signs each licence
(seal signature, and the MSO where asked), inserts the licences and their MSOs with one
multi-row statement each (SQLAlchemy Core, not the ORM; ``COPY`` for a large batch on
PostgreSQL, :mod:`trustsvc.storage.copy`), stores each signature without the seal it carries
(:mod:`trustsvc.storage.signatures`), appends every audit event with one head lock as the last
step (:func:`trustsvc.audit.record_many`) and commits once.

:class:`GroupCommit` turns concurrent single issuances into such batches: the first caller to
arrive leads, takes every request queued meanwhile (up to :data:`MAX_BATCH`), runs the batch
and wakes the others; each request still returns only after the commit that holds its licence,
so an acknowledged licence is on disk. A single caller gets a batch of one.

Every guarantee of one-by-one issuance holds per licence: identifier and gap-free serial per
department, type and year; status index unique per department and covered by a signed list
before commit; sealed metadata; audit events in the order ``seal.apply``, ``holder.mso.sign``,
``licence.issue``; idempotency key per department (a key repeated inside one batch returns the
first licence). A request that fails its own checks fails alone; an unexpected database error
fails the batch, and its requests are retried one by one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import os
import threading
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from sqlalchemy import Table, bindparam, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hsm import Signer
from hsm.errors import TrustSvcError

from ..audit import AuditEvent, record_many
from ..context import TrustService
from ..errors import ConflictError, InvalidInputError, NotFoundError
from ..formats.seals.make import SignedDocument, sign_document_parts
from ..formats.seals.parse import parse_seal
from ..holder.models import LicenceMsoRecord
from ..holder.mso import SignedMso, department_signer, sign_mso
from ..sealing import _dept_certs, signer_listed
from ..signing_keys import signing_key
from ..status_lists import cover_new_index
from ..storage.copy import allocate_ids, can_copy, copy_rows
from ..storage.models import (
    CertificateRecord,
    Department,
    DepartmentDefaultSeal,
    LicenceRecord,
    SealRecord,
    TrustVersion,
    utcnow,
)
from ..storage.signatures import compact as compact_signature
from ..times import CHINA
from .checked import MAX_SEQUENCE, IssueOutcome, _Checked, _current_seal, build_metadata
from .identifier import LicenceIdentifier
from .type_store import catalogue_marker

__all__ = ["Pending", "CatalogueMoved", "issue_in_session", "issue_batch", "GroupCommit", "group_commit", "MAX_BATCH"]

MAX_BATCH = 64
"""Most requests one group commit takes: enough to amortise the flush many times over, few
enough that the department lock is held for tens of milliseconds at most."""

Outcome = IssueOutcome | TrustSvcError
_In = TypeVar("_In")
_Out = TypeVar("_Out")


@dataclass(frozen=True)
class Pending:
    """One licence to issue, checked against its type already."""

    checked: _Checked
    department_uscc: str
    actor: str
    request_hash: str
    idempotency_key: str | None = None
    stamper: Callable[[bytes], bytes] | None = None
    identifier: LicenceIdentifier | None = None
    """Imports: the licence's original identifier (serial and version kept); None allocates one."""
    issued_at: dt.datetime | None = None
    """Imports: the original issue time; None is now."""
    make_mso: bool = True
    """Imported licences get their MSO on first use (:func:`~trustsvc.holder.mso.make_mso_in_session`)."""
    audit_details: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Extra details for the ``licence.issue`` event (an import names its source row)."""
    catalogue_marker: tuple[int, str] | None = None
    """The marker of the catalogue ``checked`` was checked against, when that catalogue was the
    one this process held rather than one read for the request: the batch compares it with the
    database's and answers :class:`CatalogueMoved` when a type version was recorded since."""


class CatalogueMoved(ConflictError):
    """A request was checked against a catalogue that is no longer the database's: check it
    again against the new one (single issuance does, at once)."""

    code = "catalogue_changed"

    def __init__(
        self,
        message: str = "the licence type catalogue changed while this licence was issued; check it again",
        *,
        code: str | None = None,
    ) -> None:
        super().__init__(message, code=code)


@dataclass(frozen=True)
class _SealContext:
    seal: SealRecord
    signer: CertificateRecord
    key: Signer
    mso_signer: CertificateRecord | None
    """The department's signer certificate for MSOs (None: it has none; MSOs then fail alone)."""
    mso_problem: TrustSvcError | None = None


@dataclass(frozen=True)
class _Cached:
    marker: tuple[Any, ...]
    """(trust version, default seal id, its SHA-256, the signer certificate's SHA-256)."""
    until: dt.datetime
    context: _SealContext


CONTEXT_TTL = dt.timedelta(seconds=60)
"""How long a department's checked seal, certificates and key are reused without a change of
the trust version or the default seal (the time-bound checks are bounded by it too)."""

_LICENCES = cast(Table, LicenceRecord.__table__)
_MSOS = cast(Table, LicenceMsoRecord.__table__)
_CERTS = cast(Table, CertificateRecord.__table__)

# The statements of the issuing path, built once: building a SQLAlchemy statement costs several
# times what running it does on SQLite (about 130 µs against 20), and a licence runs a dozen.
_LOCK_DEPARTMENTS = (
    select(Department)
    .where(Department.uscc.in_(bindparam("usccs", expanding=True)))
    .order_by(Department.id)
    .with_for_update()
)
_EARLIER = select(LicenceRecord).where(
    LicenceRecord.department_id.in_(bindparam("departments", expanding=True)),
    LicenceRecord.idempotency_key.in_(bindparam("keys", expanding=True)),
)
_TAKEN = select(_LICENCES.c.identifier).where(_LICENCES.c.identifier.in_(bindparam("identifiers", expanding=True)))
_MAX_SERIAL = select(func.max(_LICENCES.c.serial)).where(
    _LICENCES.c.department_id == bindparam("department"),
    _LICENCES.c.type_code == bindparam("type_code"),
    # a range, not LIKE: both databases walk the unique index to its last entry
    _LICENCES.c.serial >= bindparam("year"),
    _LICENCES.c.serial < bindparam("next_year"),
)
_MAX_INDEX = select(func.max(_LICENCES.c.status_index)).where(_LICENCES.c.department_id == bindparam("department"))
_SEAL_MARKER = (
    select(
        select(TrustVersion.__table__.c.version).where(TrustVersion.__table__.c.id == 1).scalar_subquery(),
        DepartmentDefaultSeal.__table__.c.seal_id,
        SealRecord.__table__.c.sha256,
        select(_CERTS.c.sha256).where(_CERTS.c.slug == bindparam("signer_slug")).scalar_subquery(),
    )
    .join_from(
        DepartmentDefaultSeal.__table__,
        SealRecord.__table__,
        SealRecord.__table__.c.id == DepartmentDefaultSeal.__table__.c.seal_id,
    )
    .where(DepartmentDefaultSeal.__table__.c.department_id == bindparam("department"))
)
_INSERT_LICENCES = insert(_LICENCES).returning(_LICENCES.c.id, sort_by_parameter_order=True)
_INSERT_MSOS = insert(_MSOS)

_contexts: dict[tuple[str, int], _Cached] = {}
_contexts_lock = threading.Lock()


@functools.lru_cache(maxsize=64)
def _listed(seal_der: bytes, signer_der: bytes) -> bool:
    return signer_listed(parse_seal(seal_der), signer_der)


def _chain_end(session: Session, signer: CertificateRecord) -> dt.datetime:
    """When the signer or a CA above it expires (the key may not sign after that)."""
    end, seen, issuer_id = signer.not_after, {signer.id}, signer.issuer_id
    while issuer_id is not None and issuer_id not in seen:
        seen.add(issuer_id)
        issuer = session.get(CertificateRecord, issuer_id)
        if issuer is None:
            break
        end, issuer_id = min(end, issuer.not_after), issuer.issuer_id
    return end


def _seal_context(service: TrustService, session: Session, dept: Department, now: dt.datetime) -> _SealContext:
    """What :func:`trustsvc.sealing.apply_seal_in_session` checks, once per department and batch.

    Reused across batches while the trust version (moved by any change to seals, their status,
    certificates or status lists, in the changing transaction), the department's default seal
    and the digests of that seal and of the signer certificate are what they were, for at most :data:`CONTEXT_TTL` and never past the seal's, signer's or
    its CAs' expiry: one small read instead of six, the 80 KB seal among them."""
    marker = session.execute(_SEAL_MARKER, {"department": dept.id, "signer_slug": f"{dept.uscc}/signer"}).one_or_none()
    key = (service.db.url, dept.id)
    cached = _contexts.get(key)
    if (
        cached is not None
        and marker is not None
        and cached.marker == tuple(marker)
        and cached.context.seal.valid_start <= now < cached.until
    ):
        return cached.context
    seal = _current_seal(session, dept, now)
    _, signer = _dept_certs(session, dept)
    key_ = signing_key(service, session, signer, purpose=f"apply seal {seal.esid}", now=now)
    if not _listed(seal.der, signer.der):
        raise ConflictError(
            f"seal {seal.esid} does not list the department's current signer certificate; "
            "make a new seal (or renew, which re-makes its seals)",
            code="seal_signer_not_listed",
        )
    mso_signer: CertificateRecord | None = None
    mso_problem: TrustSvcError | None = None
    try:
        mso_signer = department_signer(session, dept.uscc)
    except TrustSvcError as exc:
        mso_problem = exc
    context = _SealContext(seal, signer, key_, mso_signer, mso_problem)
    if marker is not None and None not in marker:
        until = min(now + CONTEXT_TTL, seal.valid_end, _chain_end(session, signer))
        with _contexts_lock:
            _contexts[key] = _Cached(tuple(marker), until, context)
    return context


def _signs_mso_alone(context: _SealContext | TrustSvcError) -> bool:
    """The MSO is signed with the seal's own key, checked already: nothing to read for it."""
    return (
        not isinstance(context, TrustSvcError)
        and context.mso_signer is not None
        and context.mso_signer.id == context.signer.id
    )


PARALLEL_FROM = 16
"""Licences to sign in one batch from which they are signed on several threads (imports,
``licences:batch``); fewer (concurrent single issuances: two or three a batch) are signed in
the leading thread: handing two signatures to other threads cost more in interpreter-lock
hand-offs than the second core gave back (4.4 against 3.8 ms of CPU a licence, 4 threads on
SQLite)."""


def _cores() -> int:
    """The cores this process may run on (its affinity; a container's limit shows there)."""
    getaffinity = getattr(os, "sched_getaffinity", None)
    return len(getaffinity(0)) if getaffinity is not None else os.cpu_count() or 1


_threads = _cores()
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _forget_pool() -> None:
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()  # a forked child starts its own threads


os.register_at_fork(after_in_child=_forget_pool)


def share_cores(processes: int) -> None:
    """This process is one of ``processes`` working side by side (an import's workers): it signs
    on its share of the cores, not on all of them (two workers with two threads each on two
    cores imported 1,081 licences/s against 1,154 with one thread each). Call it before the
    first batch: a pool already started keeps its size."""
    global _threads
    _threads = max(1, _cores() // max(1, processes))


def each_on_every_core(fn: Callable[[_In], _Out], work: Sequence[_In]) -> list[_Out]:
    """``[fn(w) for w in work]``, in order, on this process's signing threads when there are at
    least :data:`PARALLEL_FROM` items and this process has two cores or more (its share, see
    :func:`share_cores`). The SM2 operations run in libcrypto without the interpreter lock, so
    the signatures of one batch use every core instead of one; ``fn`` must not touch the
    batch's session (a session belongs to one thread). The first exception, in ``work``'s
    order, is raised, as the loop would."""
    if len(work) < PARALLEL_FROM or _threads < 2:
        return [fn(w) for w in work]
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=_threads, thread_name_prefix="trustsvc-sign")
        pool = _pool
    return list(pool.map(fn, work))


def _max_serials(session: Session, groups: set[tuple[int, str, int]]) -> dict[tuple[int, str, int], int]:
    """The highest sequence issued so far per (department, type, year), one read per group."""
    out = {}
    for dept_id, type_code, year in groups:
        top = session.execute(
            _MAX_SERIAL,
            {"department": dept_id, "type_code": type_code, "year": f"{year:04d}", "next_year": f"{year + 1:04d}"},
        ).scalar_one_or_none()
        out[(dept_id, type_code, year)] = int(top[4:]) if top and top[4:].isdigit() else 0
    return out


def _max_indexes(session: Session, dept_ids: set[int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for dept_id in dept_ids:
        top = session.execute(_MAX_INDEX, {"department": dept_id}).scalar_one_or_none()
        out[dept_id] = -1 if top is None else top
    return out


def issue_in_session(service: TrustService, session: Session, items: Sequence[Pending]) -> list[Outcome]:
    """Issue ``items`` in the caller's open write transaction; one outcome per item, in order
    (a :class:`TrustSvcError` for an item that failed its checks: nothing of it was written).
    Appends the audit events last; commit right after."""
    results: list[Outcome | None] = [None] * len(items)
    now = utcnow().replace(microsecond=0)
    # 1. the departments, locked in id order (every batch takes them in the same order)
    usccs = sorted({it.department_uscc for it in items})
    depts = {d.uscc: d for d in session.execute(_LOCK_DEPARTMENTS, {"usccs": usccs}).scalars()}
    # 2. idempotency: earlier licences, and repeats inside this batch
    keyed = {(it.department_uscc, it.idempotency_key) for it in items if it.idempotency_key is not None}
    earlier: dict[tuple[int, str], LicenceRecord] = {}
    if keyed:
        ids = {depts[u].id for u, _ in keyed if u in depts}
        for row in (
            session.execute(_EARLIER, {"departments": sorted(ids), "keys": sorted({k for _, k in keyed})})
            .unique()
            .scalars()
        ):
            assert row.idempotency_key is not None
            earlier[(row.department_id, row.idempotency_key)] = row
    first_of: dict[tuple[int, str], int] = {}
    repeats: dict[int, int] = {}
    given = [it.identifier.text for it in items if it.identifier is not None]
    taken = set(session.execute(_TAKEN, {"identifiers": given}).scalars()) if given else set()
    # requests checked against the catalogue this process held: is it still the database's?
    if any(it.catalogue_marker is not None for it in items):
        current = catalogue_marker(session)
        for i, it in enumerate(items):
            if it.catalogue_marker is not None and it.catalogue_marker != current:
                results[i] = CatalogueMoved()
    todo: list[int] = []
    for i, it in enumerate(items):
        if results[i] is not None:
            continue
        dept = depts.get(it.department_uscc)
        if dept is None:
            results[i] = NotFoundError(f"no department {it.department_uscc}", code="department_not_found")
            continue
        if it.idempotency_key is not None:
            key = (dept.id, it.idempotency_key)
            before = earlier.get(key)
            if before is not None:
                results[i] = (
                    IssueOutcome(before, replayed=True)
                    if before.request_hash == it.request_hash
                    else ConflictError(
                        "this Idempotency-Key was used for a different request", code="idempotency_key_reused"
                    )
                )
                continue
            if key in first_of:
                repeats[i] = first_of[key]
                continue
            first_of[key] = i
        if it.identifier is not None:
            if it.identifier.text in taken:
                results[i] = ConflictError(f"licence {it.identifier.text} exists already", code="identifier_taken")
                continue
            taken.add(it.identifier.text)
        todo.append(i)
    # 3. serials and status indexes: one read per group, then counted on
    year_of = {i: (items[i].issued_at or now).astimezone(CHINA).year for i in todo}
    groups = {
        (depts[items[i].department_uscc].id, items[i].checked.type.code, year_of[i])
        for i in todo
        if items[i].identifier is None
    }
    serials = _max_serials(session, groups)
    indexes = _max_indexes(session, {depts[items[i].department_uscc].id for i in todo})
    seals: dict[int, _SealContext | TrustSvcError] = {}
    planned: list[tuple[int, LicenceIdentifier, int]] = []
    for i in todo:
        it, dept = items[i], depts[items[i].department_uscc]
        if dept.id not in seals:
            try:
                seals[dept.id] = _seal_context(service, session, dept, now)
            except TrustSvcError as exc:
                seals[dept.id] = exc
        context = seals[dept.id]
        if isinstance(context, TrustSvcError):
            results[i] = context
            continue
        ident = it.identifier
        if ident is None:
            group = (dept.id, it.checked.type.code, year_of[i])
            if serials[group] >= MAX_SEQUENCE:
                results[i] = ConflictError(f"serials for {year_of[i]} are exhausted", code="serial_exhausted")
                continue
            serials[group] += 1
            ident = LicenceIdentifier(it.checked.type.code, dept.uscc, f"{year_of[i]:04d}{serials[group]:07d}", 1)
        indexes[dept.id] += 1
        planned.append((i, ident, indexes[dept.id]))
    # 4. every new index covered by a signed list (signs only when a list must grow or is due)
    tops: dict[int, int] = {}
    for i, _, index in planned:
        tops[depts[items[i].department_uscc].id] = index
    for uscc in usccs:
        dept = depts.get(uscc)
        if dept is not None and dept.id in tops:
            cover_new_index(service, session, dept, tops[dept.id], now=now)

    # 5. seal each licence; insert them all; their MSOs; audit last
    def seal(entry: tuple[int, LicenceIdentifier, int]) -> tuple[bytes, SignedDocument, dt.date] | TrustSvcError:
        i, ident, _ = entry
        it, dept = items[i], depts[items[i].department_uscc]
        context = seals[dept.id]
        assert not isinstance(context, TrustSvcError)
        issued_at = it.issued_at or now
        c = it.checked
        valid_from = c.valid_from or issued_at.astimezone(CHINA).date()
        try:
            if c.valid_until is not None and c.valid_until <= valid_from:
                raise InvalidInputError(
                    "valid_until must be after valid_from", code="invalid_validity", field="valid_until"
                )
            meta = build_metadata(
                ltype=c.type,
                identifier=ident.text,
                dept=dept,
                issued_at=issued_at,
                holder_name=c.holder_name,
                holder_id_type=c.holder_id_type,
                holder_id=c.holder_id,
                fields=c.fields,
                valid_from=valid_from,
                valid_until=c.valid_until,
            )
            made = sign_document_parts(
                meta,
                seal=context.seal.der,
                signer=context.key,
                signer_cert=context.signer.der,
                property_info=ident.text,
                time=now,
                timestamper=it.stamper,
            )
        except TrustSvcError as exc:
            return exc
        return meta, made, valid_from

    rows: list[dict[str, Any]] = []
    signed: list[tuple[int, bytes]] = []
    events: dict[int, list[AuditEvent]] = {}
    for (i, ident, index), sealed in zip(planned, each_on_every_core(seal, planned), strict=True):
        if isinstance(sealed, TrustSvcError):
            results[i] = sealed
            continue
        meta, made, valid_from = sealed
        it, dept = items[i], depts[items[i].department_uscc]
        context = seals[dept.id]
        assert not isinstance(context, TrustSvcError)
        c = it.checked
        signature = made.der
        events[i] = [
            AuditEvent(
                actor=it.actor,
                action="seal.apply",
                object_type="seal",
                object_id=context.seal.esid,
                key_ref=context.signer.key_ref or "",
                details={
                    "data_sm3": _sm3_hex(meta),
                    "property_info": ident.text,
                    "timestamped": it.stamper is not None,
                    "signature_sha256": made.sha256.hex(),
                },
            )
        ]
        rows.append(
            {
                "identifier": ident.text,
                "type_code": c.type.code,
                "department_id": dept.id,
                "serial": ident.serial,
                "version": ident.version,
                "status": "active",
                "holder_name": c.holder_name,
                "holder_id_type": c.holder_id_type,
                "holder_id": c.holder_id,
                "fields": c.fields,
                "valid_from": valid_from,
                "valid_until": c.valid_until,
                "issued_at": it.issued_at or now,
                "supersedes_id": None,
                "metadata_json": meta.decode("utf-8"),
                "metadata_signature": compact_signature(signature, context.seal.der, seal_offset=made.seal_offset),
                "seal_esid": context.seal.esid,
                "status_index": index,
                "idempotency_key": it.idempotency_key,
                "request_hash": it.request_hash,
                "type_version": c.type.version or None,
            }
        )
        signed.append((i, signature))
    if rows:
        if can_copy(session, len(rows)):  # an import's batch on PostgreSQL
            new_ids = allocate_ids(session, _LICENCES, "id", len(rows))
            copy_rows(session, _LICENCES, [{"id": new_id, **row} for new_id, row in zip(new_ids, rows, strict=True)])
        else:
            new_ids = list(session.execute(_INSERT_LICENCES, rows).scalars().all())
        licences: list[tuple[int, LicenceRecord]] = []
        for (i, signature), values, new_id in zip(signed, rows, new_ids, strict=True):
            dept = depts[items[i].department_uscc]
            licence = LicenceRecord(id=new_id, **{k: v for k, v in values.items() if k != "metadata_signature"})
            context = seals[dept.id]
            assert not isinstance(context, TrustSvcError)
            licence.store_signature(signature, context.seal.der, stored=values["metadata_signature"])
            licence.department = dept
            licences.append((i, licence))

        def mso_of(entry: tuple[int, LicenceRecord]) -> SignedMso:
            i, licence = entry
            context = seals[depts[items[i].department_uscc].id]
            assert not isinstance(context, TrustSvcError)
            if context.mso_signer is None:
                assert context.mso_problem is not None
                raise context.mso_problem
            alone = _signs_mso_alone(context)
            return sign_mso(
                service,
                session,
                context.mso_signer,
                licence,
                now=now,
                actor=items[i].actor,
                key=context.key if alone else None,
                # the context checked this certificate (it is rebuilt on any revocation,
                # and ends before the certificate or a CA above it expires)
                checked=alone,
            )

        wanted = [(i, licence) for i, licence in licences if items[i].make_mso]
        # in parallel only when no MSO needs the session (a key or a check of its own)
        apart = all(_signs_mso_alone(seals[depts[items[i].department_uscc].id]) for i, _ in wanted)
        made_msos = dict(
            zip(
                (i for i, _ in wanted),
                each_on_every_core(mso_of, wanted) if apart else [mso_of(entry) for entry in wanted],
                strict=True,
            )
        )
        msos: list[dict[str, Any]] = []
        for i, licence in licences:
            it, dept = items[i], depts[items[i].department_uscc]
            if i in made_msos:
                mso = made_msos[i]
                context = seals[dept.id]
                assert not isinstance(context, TrustSvcError) and context.mso_signer is not None
                msos.append(
                    {
                        "licence_id": licence.id,
                        "mso": mso.mso,
                        "items": mso.items,
                        "signer_sha256": context.mso_signer.sha256,
                        "created_at": now,
                    }
                )
                events[i].append(mso.event)
            events[i].append(
                AuditEvent(
                    actor=it.actor,
                    action="licence.issue",
                    object_type="licence",
                    object_id=licence.identifier,
                    details={
                        "department": dept.uscc,
                        "type": licence.type_code,
                        "serial": licence.serial,
                        "version": licence.version,
                        "seal": licence.seal_esid,
                        "status_index": licence.status_index,
                        "metadata_sha256": hashlib.sha256(licence.metadata_json.encode()).hexdigest(),
                        **it.audit_details,
                    },
                )
            )
            results[i] = IssueOutcome(licence, replayed=False)
        if msos:
            session.execute(_INSERT_MSOS, msos)
        record_many(session, [e for i, _ in signed for e in events[i]], now=now)
    for i, first in repeats.items():
        outcome = results[first]
        if isinstance(outcome, IssueOutcome):
            results[i] = (
                IssueOutcome(outcome.record, replayed=True)
                if items[first].request_hash == items[i].request_hash
                else ConflictError(
                    "this Idempotency-Key was used for a different request", code="idempotency_key_reused"
                )
            )
        else:
            results[i] = outcome
    assert all(r is not None for r in results)
    return results  # type: ignore[return-value]


def _sm3_hex(data: bytes) -> str:
    from hsm.algorithms import sm3

    return sm3(data).hex()


def issue_batch(service: TrustService, items: Sequence[Pending]) -> list[Outcome]:
    """:func:`issue_in_session` in a transaction of its own, committed before it returns. A
    database error (a concurrent writer took a serial: another process without the row lock,
    or SQLite's) retries the batch, then each item alone, so one bad item cannot sink the rest."""
    for _ in range(3):
        try:
            with service.db.transaction() as session:
                return issue_in_session(service, session, items)
        except IntegrityError:
            continue
    if len(items) == 1:
        return [ConflictError("could not allocate a licence serial; try again", code="serial_conflict")]
    return [issue_batch(service, [it])[0] for it in items]


class _Waiter:
    __slots__ = ("error", "event", "lead", "outcome", "pending")

    def __init__(self, pending: Pending) -> None:
        self.pending = pending
        self.outcome: Outcome | None = None
        self.error: BaseException | None = None
        self.event = threading.Event()
        self.lead = False


class GroupCommit:
    """Concurrent single issuances of one process, committed in batches (see the module)."""

    def __init__(self, service: TrustService, *, max_batch: int = MAX_BATCH) -> None:
        self._service = service
        self._max = max_batch
        self._lock = threading.Lock()
        self._queue: list[_Waiter] = []
        self._leading = False

    def issue(self, pending: Pending) -> IssueOutcome:
        """Issue ``pending`` in the next batch; returns once that batch committed.

        :raises TrustSvcError: what issuing this one licence raised.
        """
        me = _Waiter(pending)
        with self._lock:
            self._queue.append(me)
            if not self._leading:
                self._leading = me.lead = True
        if not me.lead:
            me.event.wait()  # set when our batch committed, or when the lead is handed to us
        if me.lead and me.outcome is None and me.error is None:
            self._lead(me)
        if me.error is not None:
            raise me.error
        if isinstance(me.outcome, TrustSvcError):
            raise me.outcome
        assert me.outcome is not None
        return me.outcome

    def _lead(self, me: _Waiter) -> None:
        """Run batches until ``me``'s is done, then hand the lead to the next queued waiter."""
        while me.outcome is None and me.error is None:
            with self._lock:
                batch, self._queue = self._queue[: self._max], self._queue[self._max :]
            try:
                outcomes = issue_batch(self._service, [w.pending for w in batch])
            except BaseException as exc:
                for w in batch:
                    w.error = exc
            else:
                for w, outcome in zip(batch, outcomes, strict=True):
                    w.outcome = outcome
            for w in batch:
                if w is not me:
                    w.event.set()
        with self._lock:
            if self._queue:
                nxt = self._queue[0]
                nxt.lead = True
                nxt.event.set()
            else:
                self._leading = False


_committers: weakref.WeakKeyDictionary[Any, GroupCommit] = weakref.WeakKeyDictionary()
_committers_lock = threading.Lock()


def group_commit(service: TrustService) -> GroupCommit:
    """The group committer of ``service``'s database in this process."""
    with _committers_lock:
        committer = _committers.get(service.db)
        if committer is None or committer._service is not service:
            committer = _committers[service.db] = GroupCommit(service)
        return committer
