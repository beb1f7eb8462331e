"""Per-issuer signed status lists (DESIGN §4): how offline verifiers learn that a licence was
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
verifiers check the validity dates. ``size`` is a multiple of 131,072 (the W3C minimum, 16 KiB),
so a list does not reveal how many licences the issuer has issued.

It is signed as CMS SignedData (SM2/SM3, content attached, eContentType
:data:`STATUS_LIST_CONTENT_TYPE`) by the region's ``status-list-signer`` key; the SignedData
carries the signer certificate and its CA, so a verifier needs only the region's root.

**Making lists.** :func:`current_status_list` makes one lazily: the latest list is served until
half its lifetime (``[status] list_next_update``) has passed or something it says changed. The
change marker is the audit chain: every licence status change is written with a ``licence.*``
audit event in the same transaction (DESIGN §4), so a list remembers the chain head it was built
at (``audit_seq``, read *before* the licences) and is out of date once a later
suspend/reinstate/revoke/change/renew/expire event names its issuer. Issuance sets no bit, so it
only matters when a new status index falls outside ``size``. Concurrent makers race on the
unique ``(department, sequence)``; the loser serves the winner's list.

**Verifying lists.** :func:`verify_status_list` checks the CMS signature, the signer certificate
(status-list-signing EKU, chain to a :class:`~trustsvc.trust.TrustContext` anchor at the list's
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
import re
import zlib
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ca.cms import sign_cms, verify_cms
from ca.errors import CAError
from ca.oids import TRUSTSVC_ARC, TrustSvcEKU
from ca.results import FORMAT_FAILURE, HASH_FAILURE, SIG_CONSTRAINTS_FAILURE, SIG_CRYPTO_FAILURE, TRY_LATER
from hsm.errors import TrustSvcError

from .canonical import canonical_json
from .audit import AuditEvent, record
from .context import TrustService
from .errors import InvalidInputError, NotFoundError, NotInitialisedError
from .report import ReportBuilder, VerificationReport
from .storage.models import (
    AuditEventRecord,
    AuditHead,
    CertificateRecord,
    Department,
    LicenceRecord,
    Region,
    StatusListRecord,
    utcnow,
)
from .trust import TrustContext, assess_certificate, aware

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

_SKEW = dt.timedelta(minutes=5)
_STATUS_ACTIONS = ("licence.suspend", "licence.reinstate", "licence.revoke", "licence.change",
                   "licence.renew", "licence.expire")
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


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


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
            raise InvalidInputError(f"status index {index!r} is outside this list (0..{self.size - 1})",
                                    code="status_index_out_of_range", field="status_index")
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
        return {"format": STATUS_LIST_FORMAT,
                "issuer": {"uscc": self.issuer_uscc, "name": self.issuer_name},
                "region": {"code": self.region_code, "name": self.region_name},
                "sequence": self.sequence, "issued_at": _iso(self.issued_at),
                "next_update": _iso(self.next_update), "size": self.size,
                "revoked": self.indexes("revocation"), "suspended": self.indexes("suspension")}


def _time(value: Any, name: str) -> dt.datetime:
    if not isinstance(value, str) or not _TIME.match(value):
        raise InvalidInputError(f"{name} must be a UTC time YYYY-MM-DDTHH:MM:SSZ", code="bad_status_list")
    try:
        return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
    except ValueError as exc:
        raise InvalidInputError(f"{name} is not a time", code="bad_status_list") from exc


def _pair(value: Any, name: str, first: str, second: str) -> tuple[str, str]:
    if (not isinstance(value, dict) or set(value) != {first, second}
            or not all(isinstance(value[k], str) and value[k] for k in (first, second))):
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
    if (isinstance(size, bool) or not isinstance(size, int) or size <= 0 or size % BLOCK_BITS
            or size > MAX_BITS):
        raise InvalidInputError(f"size must be a multiple of {BLOCK_BITS} up to {MAX_BITS}", code="bad_status_list")
    issued_at, next_update = _time(doc["issued_at"], "issued_at"), _time(doc["next_update"], "next_update")
    if next_update <= issued_at:
        raise InvalidInputError("next_update must be after issued_at", code="bad_status_list")
    return StatusList(issuer_uscc=uscc, issuer_name=name, region_code=region_code, region_name=region_name,
                      sequence=sequence, issued_at=issued_at, next_update=next_update, size=size,
                      revocation=decode_bitstring(doc["revocation"], size),
                      suspension=decode_bitstring(doc["suspension"], size))


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
    return SignedStatusList(der=row.body, sha256=row.sha256,
                            refresh_at=row.issued_at + (row.next_update - row.issued_at) / 2,
                            status_list=_parse_content(content))


# -- making lists -------------------------------------------------------------------------------

def _department(session: Session, issuer_uscc: str) -> Department:
    uscc = issuer_uscc.strip().upper() if isinstance(issuer_uscc, str) else ""
    dept = session.execute(select(Department).where(Department.uscc == uscc)).scalar_one_or_none() if uscc else None
    if dept is None:
        raise NotFoundError(f"no issuer {issuer_uscc!r} here", code="issuer_not_found")
    return dept


def _latest(session: Session, dept: Department) -> StatusListRecord | None:
    return session.execute(
        select(StatusListRecord).where(StatusListRecord.department_id == dept.id)
        .order_by(StatusListRecord.sequence.desc()).limit(1)
    ).scalar_one_or_none()


def _top_index(session: Session, dept: Department) -> int | None:
    return session.execute(
        select(func.max(LicenceRecord.status_index)).where(LicenceRecord.department_id == dept.id)
    ).scalar_one_or_none()


def _up_to_date(session: Session, dept: Department, latest: StatusListRecord, now: dt.datetime) -> bool:
    """The latest list still says what the records say, and is not due for re-signing."""
    if now >= latest.issued_at + (latest.next_update - latest.issued_at) / 2:
        return False
    top = _top_index(session, dept)
    if top is not None and top >= latest.size:
        return False
    changed = session.execute(
        select(AuditEventRecord.seq).where(
            AuditEventRecord.seq > latest.audit_seq, AuditEventRecord.object_type == "licence",
            AuditEventRecord.action.in_(_STATUS_ACTIONS), AuditEventRecord.object_id.like(f"%.{dept.uscc}.%"))
        .limit(1)
    ).first()
    return changed is None


def _build(service: TrustService, session: Session, dept: Department, latest: StatusListRecord | None,
           now: dt.datetime) -> StatusListRecord:
    # The marker first, then the licences: a change committed in between makes the next
    # request rebuild (harmless); the other order could miss it.
    marker = session.execute(select(AuditHead.seq).where(AuditHead.id == 1)).scalar_one()
    region = session.execute(select(Region)).scalars().first()
    if region is None:
        raise NotInitialisedError("no region is initialised here")
    size = _size_for(_top_index(session, dept))
    revocation, suspension = bytearray(size // 8), bytearray(size // 8)
    for index, status in session.execute(
        select(LicenceRecord.status_index, LicenceRecord.status).where(
            LicenceRecord.department_id == dept.id, LicenceRecord.status.in_((*_REVOKED, "suspended")))
    ):
        _set(revocation if status in _REVOKED else suspension, index)
    issued = now.astimezone(dt.timezone.utc).replace(microsecond=0)
    next_update = issued + dt.timedelta(seconds=service.config.status.list_next_update)
    sequence = (latest.sequence if latest is not None else 0) + 1
    content = canonical_json({
        "format": STATUS_LIST_FORMAT, "issuer": {"uscc": dept.uscc, "name": dept.name},
        "region": {"code": region.code, "name": region.name}, "sequence": sequence,
        "issued_at": _iso(issued), "next_update": _iso(next_update), "size": size,
        "revocation": encode_bitstring(bytes(revocation)), "suspension": encode_bitstring(bytes(suspension)),
    })
    signer_row = session.execute(
        select(CertificateRecord).where(CertificateRecord.slug == "status-list-signer")).scalar_one_or_none()
    if signer_row is None or signer_row.key_ref is None or signer_row.issuer is None:
        raise NotInitialisedError("this region has no status-list signer; run `trustsvc init`")
    der = sign_cms(content, signer=service.keystore.signer(signer_row.key_ref), signer_cert=signer_row.der,
                   extra_certs=[signer_row.issuer.der], detached=False, content_type=STATUS_LIST_CONTENT_TYPE,
                   signing_time=issued)
    digest = hashlib.sha256(der).hexdigest()
    row = StatusListRecord(department_id=dept.id, sequence=sequence, issued_at=issued, next_update=next_update,
                           size=size, body=der, sha256=digest, audit_seq=marker)
    session.add(row)
    session.flush()
    record(session, AuditEvent(actor="system", action="status_list.issue", object_type="status_list",
                               object_id=dept.uscc, key_ref=signer_row.key_ref,
                               details={"sequence": sequence, "size": size, "sha256": digest,
                                        "revoked": sum(bin(b).count("1") for b in revocation),
                                        "suspended": sum(bin(b).count("1") for b in suspension)}))
    return row


def current_status_list(service: TrustService, issuer_uscc: str, *, now: dt.datetime | None = None) -> SignedStatusList:
    """The issuer's current signed list: the stored one while up to date, else a new one
    (sequence + 1) signed by the region's status-list signer and stored.

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
            latest = _latest(session, dept)
            if latest is not None and _up_to_date(session, dept, latest, now):
                return _signed(latest)
            return _signed(_build(service, session, dept, latest, now))
    except IntegrityError:
        # Another worker stored this sequence first; its list is as new as ours would be.
        with service.db.reader() as session:
            winner = _latest(session, _department(session, issuer_uscc))
            assert winner is not None
            return _signed(winner)


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
        builder.fail("status_list.format", FORMAT_FAILURE,
                     f"not a CMS SignedData: {getattr(exc, 'message', type(exc).__name__)}")
        return StatusListVerification(builder.build(), None)
    for c in cms.checks:
        if c.failed:
            builder.fail(c.name, HASH_FAILURE if c.name.endswith("message_digest") else SIG_CRYPTO_FAILURE, c.detail)
        else:
            builder.check(c.name, c.result, c.detail)
    if cms.content_type != STATUS_LIST_CONTENT_TYPE:
        builder.fail("status_list.content_type", FORMAT_FAILURE,
                     f"eContentType {cms.content_type} is not a status list ({STATUS_LIST_CONTENT_TYPE})")
        return StatusListVerification(builder.build(), None)
    try:
        parsed = _parse_content(cms.encapsulated_content or b"")
    except InvalidInputError as exc:
        builder.fail("status_list.format", FORMAT_FAILURE, f"unreadable status list: {exc.message}")
        return StatusListVerification(builder.build(), None)
    builder.passed("status_list.format", f"{STATUS_LIST_FORMAT} of {parsed.issuer_uscc}, sequence {parsed.sequence}, "
                                         f"{parsed.size} entries")
    builder.object.update({"issuer": parsed.issuer_uscc, "region": parsed.region_code, "sequence": parsed.sequence,
                           "issued_at": _iso(parsed.issued_at), "next_update": _iso(parsed.next_update),
                           "size": parsed.size})
    builder.signing_time = cms.signing_time or parsed.issued_at
    if issuer is not None:
        if parsed.issuer_uscc == issuer.strip().upper():
            builder.passed("status_list.issuer", f"the list is {parsed.issuer_uscc}'s")
        else:
            builder.fail("status_list.issuer", SIG_CONSTRAINTS_FAILURE,
                         f"the list is {parsed.issuer_uscc}'s, not {issuer}'s")
    if min_sequence is not None:
        if parsed.sequence >= min_sequence:
            builder.passed("status_list.sequence", f"sequence {parsed.sequence} ≥ {min_sequence} already seen")
        else:
            builder.fail("status_list.sequence", SIG_CONSTRAINTS_FAILURE,
                         f"sequence {parsed.sequence} is older than {min_sequence} already seen (replayed list?)")
    if cms.signer_cert_der is None:
        builder.fail("status_list.signer", SIG_CONSTRAINTS_FAILURE, "the signer certificate is not in the list")
    else:
        assess_certificate(builder, "signer", cms.signer_cert_der, trust=trust, at=parsed.issued_at, now=now,
                           required_key_usage=_USAGE, required_eku=TrustSvcEKU.STATUS_LIST_SIGNING,
                           extra_intermediates=cms.certificates)
    stale = now > parsed.next_update
    if parsed.issued_at > now + _SKEW:
        builder.indeterminate("status_list.freshness", TRY_LATER,
                              f"issued at {_iso(parsed.issued_at)}, in the future (check the clock)")
    elif stale:
        builder.indeterminate("status_list.freshness", TRY_LATER,
                              f"stale: next_update {_iso(parsed.next_update)} has passed; fetch a newer list")
    else:
        builder.passed("status_list.freshness", f"fresh until {_iso(parsed.next_update)}")
    return StatusListVerification(builder.build(), None if builder.has_failed else parsed, stale)
