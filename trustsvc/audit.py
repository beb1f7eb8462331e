"""The append-only, hash-chained audit log (DESIGN §4).

Each row carries ``prev_hash`` (the previous row's hash) and ``hash = SM3(prev_hash || row)``
where *row* is the canonical JSON of every other column. Appends lock the single
``audit_head`` row, so writers in any number of processes extend one chain without forks; the
head also lets :func:`verify_chain` notice rows cut from the end.

An event is written in the *same transaction* as the change it records: either both land or
neither does. Batches (group-committed issuance, bulk import) append all their events with
:func:`record_many` as the last step before the commit: one head lock, one multi-row insert,
so the head is held only for the append and the commit, never while licences are signed, and
issuers of unrelated departments queue on it for that short step alone.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from hsm.algorithms import sm3

from .storage.copy import can_copy, copy_rows
from .storage.models import AuditEventRecord, AuditHead

__all__ = [
    "AuditEvent",
    "record",
    "record_many",
    "verify_chain",
    "chain_length",
    "ChainVerification",
    "GENESIS_HASH",
    "row_hash",
]

GENESIS_HASH = "0" * 64


@dataclass(frozen=True)
class AuditEvent:
    """What happened, by whom, to what; never secrets (keys are named by reference)."""

    actor: str
    """Who: ``cli:<user>``, ``apikey:<key_id>``, ``system``."""
    action: str
    """Dotted verb: ``region.init``, ``certificate.issue``, ``key.create``, ``apikey.create``…"""
    object_type: str = ""
    object_id: str = ""
    key_ref: str = ""
    """The key used, when the event is a key use."""
    details: Mapping[str, Any] = field(default_factory=dict)


def _canonical(details: Mapping[str, Any]) -> str:
    return json.dumps(details, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def row_hash(
    prev_hash: str,
    seq: int,
    ts: str,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    key_ref: str,
    details: str,
) -> str:
    """SM3 over the previous hash and the row's canonical form (hex)."""
    body = json.dumps(
        [seq, ts, actor, action, object_type, object_id, key_ref, details],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return sm3(bytes.fromhex(prev_hash) + body.encode("utf-8")).hex()


def _now_text(now: dt.datetime | None) -> str:
    now = now or dt.datetime.now(dt.UTC)
    return now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _locked_head(session: Session) -> AuditHead:
    # populate_existing: a batch may have moved the head with Core in this session
    return session.execute(
        select(AuditHead).where(AuditHead.id == 1).with_for_update().execution_options(populate_existing=True)
    ).scalar_one()


def record(session: Session, event: AuditEvent, *, now: dt.datetime | None = None) -> AuditEventRecord:
    """Append ``event`` inside the caller's transaction and return the new row."""
    head = _locked_head(session)
    seq = head.seq + 1
    ts = _now_text(now)
    details = _canonical(event.details)
    digest = row_hash(
        head.hash, seq, ts, event.actor, event.action, event.object_type, event.object_id, event.key_ref, details
    )
    row = AuditEventRecord(
        seq=seq,
        ts=ts,
        actor=event.actor,
        action=event.action,
        object_type=event.object_type,
        object_id=event.object_id,
        key_ref=event.key_ref,
        details=details,
        prev_hash=head.hash,
        hash=digest,
    )
    session.add(row)
    head.seq = seq
    head.hash = digest
    session.flush()
    return row


_HEADS = cast(Table, AuditHead.__table__)
_LOCK_HEAD = select(_HEADS.c.seq, _HEADS.c.hash).where(_HEADS.c.id == 1).with_for_update()
_MOVE_HEAD = update(_HEADS).where(_HEADS.c.id == 1).values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
_INSERT_EVENTS = insert(cast(Table, AuditEventRecord.__table__))
"""record_many's statements, built once (Core: the head is read and moved without the ORM's
unit of work; :func:`_locked_head` re-reads it with ``populate_existing`` for :func:`record`)."""


def record_many(session: Session, events: list[AuditEvent], *, now: dt.datetime | None = None) -> int:
    """Append ``events`` in order inside the caller's transaction, chained exactly as
    :func:`record` would one by one, with one head lock and one multi-row insert. Call it last,
    right before the commit. Returns the new head's ``seq``."""
    session.flush()  # rows record() added in this transaction go first
    head_seq, head_hash = session.execute(_LOCK_HEAD).one()
    if not events:
        return int(head_seq)
    seq, prev = int(head_seq), str(head_hash)
    ts = _now_text(now)
    rows: list[dict[str, Any]] = []
    for event in events:
        seq += 1
        details = _canonical(event.details)
        digest = row_hash(
            prev, seq, ts, event.actor, event.action, event.object_type, event.object_id, event.key_ref, details
        )
        rows.append(
            {
                "seq": seq,
                "ts": ts,
                "actor": event.actor,
                "action": event.action,
                "object_type": event.object_type,
                "object_id": event.object_id,
                "key_ref": event.key_ref,
                "details": details,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    if can_copy(session, len(rows)):
        copy_rows(session, cast(Table, AuditEventRecord.__table__), rows)
    else:
        session.execute(_INSERT_EVENTS, rows)
    session.execute(_MOVE_HEAD, {"new_seq": seq, "new_hash": prev})
    held = session.identity_map.get(identity_key(AuditHead, 1))
    if held is not None:  # an earlier record() loaded the head: it is stale now
        session.expire(held)
    return seq


@dataclass(frozen=True)
class ChainVerification:
    """Result of walking the chain; ``bad_seq`` names the first row that does not hold."""

    ok: bool
    rows: int
    bad_seq: int | None = None
    problem: str = ""
    from_seq: int = 1
    """The first row checked: 1, or a checkpoint's row when the walk started from one."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "rows": self.rows,
            "bad_seq": self.bad_seq,
            "problem": self.problem,
            "from_seq": self.from_seq,
        }


def chain_length(session: Session) -> int:
    """The rows the chain head names (0 for an empty or missing head)."""
    return int(session.execute(select(AuditHead.seq).where(AuditHead.id == 1)).scalar_one_or_none() or 0)


def verify_chain(
    session: Session,
    *,
    batch: int = 5000,
    progress: Callable[[int, int], None] | None = None,
    start: tuple[int, str] | None = None,
) -> ChainVerification:
    """Recompute every hash in order; detect edits, deletions, insertions and reordering.

    Streams the log in keyset batches of plain column tuples (no ORM objects: a walk of millions
    of rows is bound by the hashing, not by object construction); ``progress(rows checked, rows
    to check)`` is called after each batch.

    :param start: ``(seq, hash)`` of a row vouched for elsewhere (a signed checkpoint): the walk
        begins at that row, which must still hash to ``hash`` from its own columns, and the
        rows before it are not read."""
    first = start[0] if start is not None else 1
    prev_hash = GENESIS_HASH
    expected_seq = first
    count = 0
    last_seq = first - 1
    total = max(0, chain_length(session) - first + 1)
    t = AuditEventRecord
    columns = (t.seq, t.ts, t.actor, t.action, t.object_type, t.object_id, t.key_ref, t.details, t.prev_hash, t.hash)

    def broken(seq: int | None, problem: str) -> ChainVerification:
        return ChainVerification(False, count, seq, problem, from_seq=first)

    while True:
        rows = session.execute(select(*columns).where(t.seq >= expected_seq).order_by(t.seq).limit(batch)).all()
        if not rows:
            break
        for seq, ts, actor, action, object_type, object_id, key_ref, details, row_prev, row_digest in rows:
            if seq != expected_seq:
                return broken(expected_seq, f"row {expected_seq} is missing (next row is {seq})")
            if start is not None and seq == first:
                prev_hash = row_prev  # the checkpoint vouches for this row's hash, and so its link
                if row_digest != start[1]:
                    return broken(seq, f"row {seq} no longer has the hash its checkpoint signed (history rewritten)")
            if row_prev != prev_hash:
                return broken(seq, f"row {seq} does not link to row {seq - 1}")
            digest = row_hash(row_prev, seq, ts, actor, action, object_type, object_id, key_ref, details)
            if digest != row_digest:
                return broken(seq, f"row {seq} was altered (hash mismatch)")
            prev_hash = row_digest
            expected_seq += 1
            last_seq = seq
            count += 1
        if progress is not None:
            progress(count, max(total, count))
    if start is not None and count == 0:
        return broken(first, f"row {first}, which the checkpoint signed, is missing")
    head = session.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one_or_none()
    if head is None:
        return broken(None, "the chain head is missing")
    if head.seq != last_seq or head.hash != prev_hash:
        return broken(last_seq + 1, f"rows after {last_seq} were removed (head is at {head.seq})")
    return ChainVerification(True, count, from_seq=first)
