"""Per-issuer signed status lists (README, "Licence status lists"): how offline verifiers learn that a licence was
revoked or suspended without calling home.

**The list.** One per issuing department (its USCC), canonical JSON (sorted keys, UTF-8, no
spaces)::

    {"format": "trustsvc-status-list/1",
     "issuer": {"uscc": "11320000MB0000001G", "name": "江苏省市场监督管理局"},
     "region": {"code": "320000", "name": "江苏省"},
     "sequence": 7, "issued_at": "2026-12-01T08:00:00Z", "next_update": "2026-12-01T09:00:00Z",
     "size": 131072, "revocation": "uH4sI…", "suspension": "uH4sI…"}

``revocation`` and ``suspension`` are W3C Bitstring Status List ``encodedList`` values: the
bitstring (bit *i* = status index *i*, most significant bit of byte 0 first) GZIP-compressed,
base64url without padding, with the multibase prefix ``u``. A licence's bit is its
``status_index``; ``revocation`` is set for revoked **and superseded** licences (a newer version
replaced it, like CRL reason ``superseded``), ``suspension`` for suspended ones. Expiry is no bit:
verifiers check the validity dates. ``size`` is a multiple of :data:`BLOCK_BITS` = 131,072
(the W3C minimum for herd privacy: 16 KiB of bits, a few dozen bytes once compressed while
mostly zeros), so a list does not reveal how many licences the issuer has issued, and a newly
issued licence's index is normally covered already.

It is signed as CMS SignedData (SM2/SM3, content attached, eContentType
:data:`STATUS_LIST_CONTENT_TYPE`) by the region's ``status-list-signer`` key; the SignedData
carries the signer certificate and its CA, so a verifier needs only the region's root.

**Publishing lists.** A list is published when its content changes, in the same transaction
as the change, so a committed change always has its signed list (an SM2 signature is well
under a millisecond) and no reader of stored lists (offline verification on this host, the
trust snapshot, peers) can see a change without it or trail it:

* suspend, reinstate, revoke, change and renew call :func:`publish_status_list` after the
  status change and its audit event;
* issuance calls :func:`cover_new_index` first: a new index's bit is 0 (active) in every list
  that covers it, so nothing is signed unless no list covers it yet (the first licence, or
  crossing a block) or the newest list is due for re-signing;
* :func:`publish_due_status_lists` (a background task of ``serve``, see
  :class:`StatusListPublisher`) re-signs lists half-way to ``next_update``, so they never go
  stale while nothing changes;
* :func:`current_status_list` (``GET /api/v1/status/{issuer}``) serves the newest stored list
  and makes a new one only when it is due or when it no longer says what the records say (a
  change that reached the database by another route: the audit chain remembers every
  ``licence.*`` status event, and a list remembers the chain head it was built at,
  ``audit_seq``).

Every publisher first locks the department row, then the trust-version row (which the new
list's insert bumps anyway; taking it before any audit row keeps one lock order with other
writers of trust material), so concurrent changes of one issuer queue, each list includes
every change committed before it, and ``(department, sequence)`` never collides. The
newest list of an issuer is its row with the highest ``sequence``.

**Verifying lists.** :func:`verify_status_list` checks the CMS signature, the signer certificate
(status-list-signing EKU, chain to a :class:`~trustsvc.formats.trust.TrustContext` anchor at the list's
issue time), the format, the expected issuer, rollback (``min_sequence``) and freshness, and
returns a :class:`StatusListVerification`: the report and, unless it FAILED, the
:class:`StatusList` whose :meth:`StatusList.status_of` answers per status index.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import gzip
import hashlib
import json
import logging
import random
import re
import threading
import zlib
from dataclasses import dataclass
from typing import Any, Literal, cast

from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ca.cms import sign_cms, verify_cms
from ca.errors import CAError
from ca.oids import TRUSTSVC_ARC, TrustSvcEKU
from ca.results import FORMAT_FAILURE, HASH_FAILURE, SIG_CONSTRAINTS_FAILURE, SIG_CRYPTO_FAILURE, TRY_LATER
from hsm.errors import TrustSvcError

from .audit import AuditEvent, record
from .context import TrustService
from .errors import InvalidInputError, NotFoundError, NotInitialisedError
from .formats.canonical import canonical_json
from .formats.report import ReportBuilder, VerificationReport
from .formats.trust import TrustContext, assess_certificate, aware
from .signing_keys import signing_key
from .storage.models import (
    AuditEventRecord,
    AuditHead,
    CertificateRecord,
    Department,
    LicenceRecord,
    Region,
    StatusListRecord,
    TrustVersion,
    utcnow,
)
from .times import iso_utc as _iso

__all__ = [
    "STATUS_LIST_CONTENT_TYPE",
    "STATUS_LIST_MEDIA_TYPE",
    "STATUS_LIST_FORMAT",
    "BLOCK_BITS",
    "MAX_BITS",
    "Status",
    "StatusList",
    "SignedStatusList",
    "StatusListVerification",
    "current_status_list",
    "publish_status_list",
    "cover_new_index",
    "lock_status_list",
    "publish_due_status_lists",
    "StatusListPublisher",
    "verify_status_list",
    "encode_bitstring",
    "decode_bitstring",
]

STATUS_LIST_CONTENT_TYPE = TRUSTSVC_ARC + ".2.2"
"""eContentType of a signed status list (canonical JSON). ``<arc>.2`` holds trustsvc's CMS
content types; ``.2.1`` is kept for the region trust list."""
STATUS_LIST_MEDIA_TYPE = "application/cms"
"""What ``GET /api/v1/status/{issuer}`` serves: the DER ContentInfo (RFC 7193 ``application/cms``)."""
STATUS_LIST_FORMAT = "trustsvc-status-list/1"
BLOCK_BITS = 131_072
"""W3C Bitstring Status List minimum (16 KiB); sizes grow in blocks of this many bits."""
MAX_BITS = 1 << 26
"""Largest list accepted when verifying (8 MiB of bits per purpose): bounds decompression."""

Status = Literal["active", "revoked", "suspended"]

log = logging.getLogger(__name__)

_SKEW = dt.timedelta(minutes=5)
_STATUS_ACTIONS = (
    "licence.suspend",
    "licence.reinstate",
    "licence.revoke",
    "licence.change",
    "licence.renew",
    "licence.expire",
)
"""Audit actions that can change a bit; ``licence.issue`` cannot (a new index starts at 0)."""
_REVOKED = ("revoked", "superseded")
_KEYS = {"format", "issuer", "region", "sequence", "issued_at", "next_update", "size", "revocation", "suspension"}
_TIME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$")
_USAGE = frozenset({"digital_signature"})


# -- bitstrings ---------------------------------------------------------------------------------


def encode_bitstring(bits: bytes) -> str:
    """W3C ``encodedList``: ``u`` + base64url (no padding) of GZIP(bits); deterministic (mtime 0)."""
    packed = gzip.compress(bytes(bits), compresslevel=9, mtime=0)
    return "u" + base64.urlsafe_b64encode(packed).rstrip(b"=").decode("ascii")


def decode_bitstring(encoded: str, size: int) -> bytes:
    """The bitstring of ``size`` bits an ``encodedList`` holds.

    :raises InvalidInputError: not ``u`` + base64url of a GZIP member of exactly ``size / 8``
        bytes (larger output is never inflated: a GZIP bomb stops at the limit).
    """
    if not isinstance(encoded, str) or not encoded.startswith("u"):
        raise InvalidInputError("an encodedList starts with the multibase prefix 'u'", code="bad_status_list")
    text = encoded[1:]
    try:
        packed = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInputError("an encodedList is not base64url", code="bad_status_list") from exc
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0 or size % 8:
        raise InvalidInputError("a bitstring size is a positive multiple of 8", code="bad_status_list")
    want = size // 8
    inflater = zlib.decompressobj(wbits=31)  # GZIP wrapper only; the trailer's CRC is checked
    try:
        bits = inflater.decompress(packed, want)
        extra = b"" if inflater.eof else inflater.decompress(inflater.unconsumed_tail, 1)
    except zlib.error as exc:
        raise InvalidInputError(f"an encodedList is not GZIP data: {exc}", code="bad_status_list") from exc
    if len(bits) != want or extra or not inflater.eof or inflater.unused_data:
        raise InvalidInputError(f"an encodedList does not hold exactly {size} bits", code="bad_status_list")
    return bits


def _bit(bits: bytes, index: int) -> bool:
    return bool(bits[index >> 3] & (0x80 >> (index & 7)))


def _set(bits: bytearray, index: int) -> None:
    bits[index >> 3] |= 0x80 >> (index & 7)


def _size_for(top_index: int | None) -> int:
    needed = 0 if top_index is None else top_index + 1
    return max(1, -(-needed // BLOCK_BITS)) * BLOCK_BITS


# -- the list -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusList:
    """One issuer's decoded status list. Build it with :func:`verify_status_list` (checked) or
    read it from :attr:`SignedStatusList.status_list` (this service's own)."""

    issuer_uscc: str
    issuer_name: str
    region_code: str
    region_name: str
    sequence: int
    issued_at: dt.datetime
    next_update: dt.datetime
    size: int
    """Number of status indexes covered (a multiple of :data:`BLOCK_BITS`)."""
    revocation: bytes
    """The raw revocation bitstring (``size / 8`` bytes)."""
    suspension: bytes

    def status_of(self, index: int) -> Status:
        """``revoked`` (revoked or superseded), ``suspended`` or ``active`` for a status index.
        Expiry is not in the list: check the licence's validity dates.

        :raises InvalidInputError: ``status_index_out_of_range``: the list predates the
            licence (fetch a newer one) or the index is not the issuer's.
        """
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < self.size:
            raise InvalidInputError(
                f"status index {index!r} is outside this list (0..{self.size - 1})",
                code="status_index_out_of_range",
                field="status_index",
            )
        if _bit(self.revocation, index):
            return "revoked"
        if _bit(self.suspension, index):
            return "suspended"
        return "active"

    def is_stale(self, now: dt.datetime | None = None) -> bool:
        """Past ``next_update``: a newer list exists or should; do not rely on this one."""
        return aware(now or utcnow()) > self.next_update

    def indexes(self, purpose: Literal["revocation", "suspension"]) -> list[int]:
        """Every status index whose ``purpose`` bit is set, ascending."""
        bits = self.revocation if purpose == "revocation" else self.suspension
        return [n * 8 + b for n, byte in enumerate(bits) if byte for b in range(8) if byte & (0x80 >> b)]

    def as_dict(self) -> dict[str, Any]:
        """A readable view (``?format=json``): the set bits listed, not encoded."""
        return {
            "format": STATUS_LIST_FORMAT,
            "issuer": {"uscc": self.issuer_uscc, "name": self.issuer_name},
            "region": {"code": self.region_code, "name": self.region_name},
            "sequence": self.sequence,
            "issued_at": _iso(self.issued_at),
            "next_update": _iso(self.next_update),
            "size": self.size,
            "revoked": self.indexes("revocation"),
            "suspended": self.indexes("suspension"),
        }


def _time(value: Any, name: str) -> dt.datetime:
    if not isinstance(value, str) or not _TIME.match(value):
        raise InvalidInputError(f"{name} must be a UTC time YYYY-MM-DDTHH:MM:SSZ", code="bad_status_list")
    try:
        return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except ValueError as exc:
        raise InvalidInputError(f"{name} is not a time", code="bad_status_list") from exc


def _pair(value: Any, name: str, first: str, second: str) -> tuple[str, str]:
    if (
        not isinstance(value, dict)
        or set(value) != {first, second}
        or not all(isinstance(value[k], str) and value[k] for k in (first, second))
    ):
        raise InvalidInputError(f"{name} must be {{{first}, {second}}} strings", code="bad_status_list")
    return value[first], value[second]


def _parse_content(content: bytes) -> StatusList:
    """The status list in canonical JSON ``content``; strict (unknown keys, bad sizes refused)."""
    try:
        doc = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInputError("the status list is not UTF-8 JSON", code="bad_status_list") from exc
    if not isinstance(doc, dict) or set(doc) != _KEYS:
        raise InvalidInputError(f"the status list must have exactly the keys {sorted(_KEYS)}", code="bad_status_list")
    if doc["format"] != STATUS_LIST_FORMAT:
        raise InvalidInputError(f"unknown status list format {doc['format']!r}", code="bad_status_list")
    uscc, name = _pair(doc["issuer"], "issuer", "uscc", "name")
    region_code, region_name = _pair(doc["region"], "region", "code", "name")
    sequence, size = doc["sequence"], doc["size"]
    if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 1:
        raise InvalidInputError("sequence must be a positive integer", code="bad_status_list")
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0 or size % BLOCK_BITS or size > MAX_BITS:
        raise InvalidInputError(f"size must be a multiple of {BLOCK_BITS} up to {MAX_BITS}", code="bad_status_list")
    issued_at, next_update = _time(doc["issued_at"], "issued_at"), _time(doc["next_update"], "next_update")
    if next_update <= issued_at:
        raise InvalidInputError("next_update must be after issued_at", code="bad_status_list")
    return StatusList(
        issuer_uscc=uscc,
        issuer_name=name,
        region_code=region_code,
        region_name=region_name,
        sequence=sequence,
        issued_at=issued_at,
        next_update=next_update,
        size=size,
        revocation=decode_bitstring(doc["revocation"], size),
        suspension=decode_bitstring(doc["suspension"], size),
    )


@dataclass(frozen=True)
class SignedStatusList:
    """A list as this service stores and serves it."""

    der: bytes
    """The CMS SignedData (ContentInfo DER), byte for byte what is served."""
    sha256: str
    """Hex SHA-256 of ``der``: the HTTP ETag."""
    refresh_at: dt.datetime
    """When this service makes a new list even without changes (half-way to ``next_update``)."""
    status_list: StatusList

    @property
    def sequence(self) -> int:
        return self.status_list.sequence

    def max_age(self, now: dt.datetime | None = None) -> int:
        """Seconds a cache may keep it: until this service would make a newer one."""
        return max(0, int((self.refresh_at - aware(now or utcnow())).total_seconds()))


def _signed(row: StatusListRecord) -> SignedStatusList:
    content = verify_cms(row.body).encapsulated_content
    assert content is not None
    return SignedStatusList(
        der=row.body,
        sha256=row.sha256,
        refresh_at=_refresh_at(row.issued_at, row.next_update),
        status_list=_parse_content(content),
    )


# -- making lists -------------------------------------------------------------------------------


def _department(session: Session, issuer_uscc: str) -> Department:
    uscc = issuer_uscc.strip().upper() if isinstance(issuer_uscc, str) else ""
    dept = session.execute(select(Department).where(Department.uscc == uscc)).scalar_one_or_none() if uscc else None
    if dept is None:
        raise NotFoundError(f"no issuer {issuer_uscc!r} here", code="issuer_not_found")
    return dept


def _latest(session: Session, dept: Department) -> StatusListRecord | None:
    return session.execute(
        select(StatusListRecord)
        .where(StatusListRecord.department_id == dept.id)
        .order_by(StatusListRecord.sequence.desc())
        .limit(1)
    ).scalar_one_or_none()


@dataclass(frozen=True)
class _Head:
    """The newest list's bookkeeping, read without its body (issuance reads it every time)."""

    sequence: int
    size: int
    issued_at: dt.datetime
    next_update: dt.datetime
    audit_seq: int

    @property
    def refresh_at(self) -> dt.datetime:
        return _refresh_at(self.issued_at, self.next_update)


def _refresh_at(issued_at: dt.datetime, next_update: dt.datetime) -> dt.datetime:
    """Half-way to ``next_update``: relying parties never hold a list close to going stale."""
    return issued_at + (next_update - issued_at) / 2


_LISTS = cast(Table, StatusListRecord.__table__)
_HEAD = (
    select(_LISTS.c.sequence, _LISTS.c.size, _LISTS.c.issued_at, _LISTS.c.next_update, _LISTS.c.audit_seq)
    .where(_LISTS.c.department_id == bindparam("department"))
    .order_by(_LISTS.c.sequence.desc())
    .limit(1)
)
"""Built once: every issuance reads it (:func:`cover_new_index`)."""


def _head(session: Session, department_id: int) -> _Head | None:
    row = session.execute(_HEAD, {"department": department_id}).first()
    return (
        None
        if row is None
        else _Head(row.sequence, row.size, aware(row.issued_at), aware(row.next_update), row.audit_seq)
    )


def _top_index(session: Session, department_id: int) -> int | None:
    return session.execute(
        select(func.max(LicenceRecord.status_index)).where(LicenceRecord.department_id == department_id)
    ).scalar_one_or_none()


def _due(head: _Head | None, top: int | None, now: dt.datetime) -> bool:
    """A new list is needed whatever the bits say: none yet while licences exist, one that no
    longer covers every index, or one half-way to going stale."""
    if head is None:
        return top is not None
    return now >= head.refresh_at or (top is not None and top >= head.size)


def _changed_since(session: Session, uscc: str, audit_seq: int) -> bool:
    """A licence status event of issuer ``uscc`` after the chain head a list was built at."""
    return (
        session.execute(
            select(AuditEventRecord.seq)
            .where(
                AuditEventRecord.seq > audit_seq,
                AuditEventRecord.object_type == "licence",
                AuditEventRecord.action.in_(_STATUS_ACTIONS),
                AuditEventRecord.object_id.like(f"%.{uscc}.%"),
            )
            .limit(1)
        ).first()
        is not None
    )


def _up_to_date(session: Session, dept: Department, latest: StatusListRecord, now: dt.datetime) -> bool:
    """The latest list still says what the records say, and is not due for re-signing."""
    head = _Head(latest.sequence, latest.size, aware(latest.issued_at), aware(latest.next_update), latest.audit_seq)
    return not _due(head, _top_index(session, dept.id), now) and not _changed_since(session, dept.uscc, head.audit_seq)


def lock_status_list(session: Session, department_id: int) -> None:
    """Queue on the issuer's publishing lock: its department row, then the trust-version row.

    Call it before the first audit record of a transaction that may publish (the new list's
    insert bumps the trust version; taking that row first keeps the order every other writer
    of trust material uses: trust version, then audit head). Under it, on PostgreSQL (READ
    COMMITTED) every later statement sees each change committed by the holder before, so the
    list built next includes them all. On SQLite writers already queue on ``BEGIN IMMEDIATE``.
    """
    session.execute(select(Department.id).where(Department.id == department_id).with_for_update())
    session.execute(select(TrustVersion.id).where(TrustVersion.id == 1).with_for_update())


def _build(
    service: TrustService,
    session: Session,
    dept: Department,
    sequence: int,
    now: dt.datetime,
    *,
    cover: int | None = None,
) -> StatusListRecord:
    # The marker first, then the licences: a change committed in between makes the next
    # request rebuild (harmless); the other order could miss it.
    marker = session.execute(select(AuditHead.seq).where(AuditHead.id == 1)).scalar_one()
    region = session.execute(select(Region)).scalars().first()
    if region is None:
        raise NotInitialisedError("no region is initialised here")
    top = _top_index(session, dept.id)
    if cover is not None:
        top = cover if top is None else max(top, cover)
    size = _size_for(top)
    revocation, suspension = bytearray(size // 8), bytearray(size // 8)
    for index, status in session.execute(
        select(LicenceRecord.status_index, LicenceRecord.status).where(
            LicenceRecord.department_id == dept.id, LicenceRecord.status.in_((*_REVOKED, "suspended"))
        )
    ):
        _set(revocation if status in _REVOKED else suspension, index)
    issued = now.astimezone(dt.UTC).replace(microsecond=0)
    next_update = issued + dt.timedelta(seconds=service.config.status.list_next_update)
    content = canonical_json(
        {
            "format": STATUS_LIST_FORMAT,
            "issuer": {"uscc": dept.uscc, "name": dept.name},
            "region": {"code": region.code, "name": region.name},
            "sequence": sequence,
            "issued_at": _iso(issued),
            "next_update": _iso(next_update),
            "size": size,
            "revocation": encode_bitstring(bytes(revocation)),
            "suspension": encode_bitstring(bytes(suspension)),
        }
    )
    signer_row = session.execute(
        select(CertificateRecord).where(CertificateRecord.slug == "status-list-signer")
    ).scalar_one_or_none()
    if signer_row is None or signer_row.key_ref is None or signer_row.issuer is None:
        raise NotInitialisedError("this region has no status-list signer; run `trustsvc init`")
    list_signer = signing_key(service, session, signer_row, purpose="sign a status list", now=now)
    der = sign_cms(
        content,
        signer=list_signer,
        signer_cert=signer_row.der,
        extra_certs=[signer_row.issuer.der],
        detached=False,
        content_type=STATUS_LIST_CONTENT_TYPE,
        signing_time=issued,
    )
    digest = hashlib.sha256(der).hexdigest()
    row = StatusListRecord(
        department_id=dept.id,
        sequence=sequence,
        issued_at=issued,
        next_update=next_update,
        size=size,
        body=der,
        sha256=digest,
        audit_seq=marker,
    )
    session.add(row)
    session.flush()
    record(
        session,
        AuditEvent(
            actor="system",
            action="status_list.issue",
            object_type="status_list",
            object_id=dept.uscc,
            key_ref=signer_row.key_ref,
            details={
                "sequence": sequence,
                "size": size,
                "sha256": digest,
                "revoked": sum(bin(b).count("1") for b in revocation),
                "suspended": sum(bin(b).count("1") for b in suspension),
            },
        ),
    )
    return row


def publish_status_list(
    service: TrustService, session: Session, dept: Department, *, now: dt.datetime | None = None
) -> StatusListRecord:
    """Sign and store ``dept``'s list as ``session`` sees it, in the caller's transaction.

    Call it after a status change is flushed and audited: the change and its list then commit
    together or not at all, so no committed change can miss its list. Takes
    :func:`lock_status_list` (take it earlier, before the transaction's first audit record).
    """
    lock_status_list(session, dept.id)
    head = _head(session, dept.id)
    return _build(service, session, dept, (head.sequence if head else 0) + 1, aware(now or utcnow()))


def cover_new_index(
    service: TrustService, session: Session, dept: Department, index: int, *, now: dt.datetime | None = None
) -> StatusListRecord | None:
    """At issuance, before the transaction's first audit record: make the newest list cover the
    new licence's ``index`` (its bit, 0, already says active).

    One indexed read in the usual case, and no signature: a list is published (sized in
    :data:`BLOCK_BITS` blocks to include ``index``) only when none covers it yet, i.e. the
    issuer's first licence or one that crosses a block, or when the newest is due for re-signing.
    Call it with the department row locked (issuance holds it to allocate the index).
    """
    now = aware(now or utcnow())
    head = _head(session, dept.id)
    if head is not None and index < head.size and now < head.refresh_at:
        return None
    lock_status_list(session, dept.id)
    return _build(service, session, dept, (head.sequence if head else 0) + 1, now, cover=index)


def current_status_list(service: TrustService, issuer_uscc: str, *, now: dt.datetime | None = None) -> SignedStatusList:
    """The issuer's current signed list: the stored one while up to date, else a new one
    (sequence + 1) signed by the region's status-list signer and stored.

    Changes publish their own list, so a new one is made here only when the newest is due for
    re-signing or a change reached the records without publishing (a safety net, not the way
    changes are published).

    :raises NotFoundError: ``issuer_not_found``.
    """
    now = aware(now or utcnow())
    with service.db.reader() as session:
        dept = _department(session, issuer_uscc)
        latest = _latest(session, dept)
        if latest is not None and _up_to_date(session, dept, latest, now):
            return _signed(latest)
    try:
        with service.db.transaction() as session:
            dept = _department(session, issuer_uscc)
            lock_status_list(session, dept.id)
            latest = _latest(session, dept)
            if latest is not None and _up_to_date(session, dept, latest, now):
                return _signed(latest)
            return _signed(_build(service, session, dept, (latest.sequence if latest else 0) + 1, now))
    except IntegrityError:
        # Another worker stored this sequence first; its list is as new as ours would be.
        with service.db.reader() as session:
            winner = _latest(session, _department(session, issuer_uscc))
            assert winner is not None
            return _signed(winner)


def _needs_list(session: Session, dept_id: int, uscc: str, now: dt.datetime, check_changes: bool) -> bool:
    head = _head(session, dept_id)
    if _due(head, _top_index(session, dept_id), now):
        return True
    return check_changes and head is not None and _changed_since(session, uscc, head.audit_seq)


def publish_due_status_lists(
    service: TrustService, *, now: dt.datetime | None = None, check_changes: bool = False
) -> list[str]:
    """Re-sign every local issuer's list that is due (see :func:`_due`); the USCCs published.

    What ``serve`` runs in the background, so lists stay fresh for offline verifiers while
    nothing changes and nobody asks. ``check_changes`` also compares each list with the audit
    chain (the GET safety net; it scans the events since the list, so only at start-up).
    """
    now = aware(now or utcnow())
    with service.db.reader() as session:
        departments = session.execute(select(Department.id, Department.uscc).order_by(Department.id)).all()
    published: list[str] = []
    for dept_id, uscc in departments:
        with service.db.reader() as session:
            if not _needs_list(session, dept_id, uscc, now, check_changes):
                continue
        with service.db.transaction() as session:
            lock_status_list(session, dept_id)
            if not _needs_list(session, dept_id, uscc, now, check_changes):
                continue  # another worker published it meanwhile
            head = _head(session, dept_id)
            _build(service, session, session.get_one(Department, dept_id), (head.sequence if head else 0) + 1, now)
            published.append(uscc)
    return published


class StatusListPublisher(threading.Thread):
    """``serve``'s background task: :func:`publish_due_status_lists` at start (comparing with
    the audit chain) and then every ``interval`` seconds, until :meth:`stop`. Workers need no
    coordination: each re-checks under the publishing lock, so a due list is signed once."""

    def __init__(self, service: TrustService, interval: float | None = None) -> None:
        super().__init__(name="trustsvc-status-list-publisher", daemon=True)
        self._service = service
        lifetime = service.config.status.list_next_update
        self._interval = float(interval if interval is not None else min(60.0, max(5.0, lifetime / 10)))
        self._stopped = threading.Event()

    def stop(self) -> None:
        self._stopped.set()

    def run(self) -> None:
        wait, full = random.uniform(0.0, 0.2) * self._interval, True
        while not self._stopped.wait(wait):
            try:
                for uscc in publish_due_status_lists(self._service, check_changes=full):
                    log.info("status list of %s re-signed", uscc)
                full = False
            except Exception:
                log.exception("status list publishing failed")
            wait = self._interval * random.uniform(1.0, 1.1)


# -- verifying lists ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusListVerification:
    """What :func:`verify_status_list` found."""

    report: VerificationReport
    """Every check; PASSED only when intact, signed by a trusted status-list signer, for the
    expected issuer, and fresh."""
    status_list: StatusList | None
    """The decoded list, unless the report FAILED (tampered, wrong signer, unreadable...).
    When the report is INDETERMINATE (no trusted chain, stale) the list is given but not vouched for."""
    stale: bool = False
    """``next_update`` has passed at the verification time."""

    @property
    def trusted(self) -> bool:
        return self.report.passed and self.status_list is not None


def verify_status_list(
    data: bytes,
    *,
    trust: TrustContext,
    now: dt.datetime | None = None,
    issuer: str | None = None,
    min_sequence: int | None = None,
) -> StatusListVerification:
    """Verify a signed status list (the DER ``GET /api/v1/status/{issuer}`` serves). Never
    raises for bad input: unreadable bytes are a FAILED (FORMAT_FAILURE) report.

    :param trust: anchors (e.g. the issuing region's root, from its trust list or pin).
    :param issuer: the USCC the caller expects (the licence's issuer); another is FAILED.
    :param min_sequence: the newest sequence the caller has seen; an older list is FAILED
        (a replayed list could hide a revocation).
    """
    now = aware(now or utcnow())
    builder = ReportBuilder("status_list")
    try:
        cms = verify_cms(bytes(data))
    except (CAError, TrustSvcError, TypeError) as exc:
        builder.fail(
            "status_list.format", FORMAT_FAILURE, f"not a CMS SignedData: {getattr(exc, 'message', type(exc).__name__)}"
        )
        return StatusListVerification(builder.build(), None)
    for c in cms.checks:
        if c.failed:
            builder.fail(c.name, HASH_FAILURE if c.name.endswith("message_digest") else SIG_CRYPTO_FAILURE, c.detail)
        else:
            builder.check(c.name, c.result, c.detail)
    if cms.content_type != STATUS_LIST_CONTENT_TYPE:
        builder.fail(
            "status_list.content_type",
            FORMAT_FAILURE,
            f"eContentType {cms.content_type} is not a status list ({STATUS_LIST_CONTENT_TYPE})",
        )
        return StatusListVerification(builder.build(), None)
    try:
        parsed = _parse_content(cms.encapsulated_content or b"")
    except InvalidInputError as exc:
        builder.fail("status_list.format", FORMAT_FAILURE, f"unreadable status list: {exc.message}")
        return StatusListVerification(builder.build(), None)
    builder.passed(
        "status_list.format",
        f"{STATUS_LIST_FORMAT} of {parsed.issuer_uscc}, sequence {parsed.sequence}, {parsed.size} entries",
    )
    builder.object.update(
        {
            "issuer": parsed.issuer_uscc,
            "region": parsed.region_code,
            "sequence": parsed.sequence,
            "issued_at": _iso(parsed.issued_at),
            "next_update": _iso(parsed.next_update),
            "size": parsed.size,
        }
    )
    builder.signing_time = cms.signing_time or parsed.issued_at
    if issuer is not None:
        if parsed.issuer_uscc == issuer.strip().upper():
            builder.passed("status_list.issuer", f"the list is {parsed.issuer_uscc}'s")
        else:
            builder.fail(
                "status_list.issuer", SIG_CONSTRAINTS_FAILURE, f"the list is {parsed.issuer_uscc}'s, not {issuer}'s"
            )
    if min_sequence is not None:
        if parsed.sequence >= min_sequence:
            builder.passed("status_list.sequence", f"sequence {parsed.sequence} ≥ {min_sequence} already seen")
        else:
            builder.fail(
                "status_list.sequence",
                SIG_CONSTRAINTS_FAILURE,
                f"sequence {parsed.sequence} is older than {min_sequence} already seen (replayed list?)",
            )
    if cms.signer_cert_der is None:
        builder.fail("status_list.signer", SIG_CONSTRAINTS_FAILURE, "the signer certificate is not in the list")
    else:
        assess_certificate(
            builder,
            "signer",
            cms.signer_cert_der,
            trust=trust,
            at=parsed.issued_at,
            now=now,
            required_key_usage=_USAGE,
            required_eku=TrustSvcEKU.STATUS_LIST_SIGNING,
            extra_intermediates=cms.certificates,
        )
    stale = now > parsed.next_update
    if parsed.issued_at > now + _SKEW:
        builder.indeterminate(
            "status_list.freshness", TRY_LATER, f"issued at {_iso(parsed.issued_at)}, in the future (check the clock)"
        )
    elif stale:
        builder.indeterminate(
            "status_list.freshness",
            TRY_LATER,
            f"stale: next_update {_iso(parsed.next_update)} has passed; fetch a newer list",
        )
    else:
        builder.passed("status_list.freshness", f"fresh until {_iso(parsed.next_update)}")
    return StatusListVerification(builder.build(), None if builder.has_failed else parsed, stale)
