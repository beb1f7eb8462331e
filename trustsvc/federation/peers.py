"""Peer regions: import by pin, refresh, and the peers' issuers' status lists (docs/architecture.md).

* :func:`import_peer` fetches a list (URL or file), checks it with
  :func:`trustsvc.federation.trust_lists.verify_trust_list` against the pin (and the list already held of
  that region, if any) and stores it. A refused list changes nothing and raises
  :class:`~trustsvc.federation.trust_lists.TrustListRejected` naming the reason.
* :func:`refresh_peers` re-fetches every peer's list from its source; a refused or unreachable
  one keeps the held list (which goes stale at ``next_update`` + ``[trust] grace``: fail closed)
  and records the outcome on the peer (``status``, ``last_error``). Then it fetches each listed
  issuer's status list from its ``status_list_url`` and keeps it when it verifies against the
  peer's list (signer certified by the peer's root, the expected issuer, no rollback). Peers
  are refreshed concurrently (``[trust] refresh_concurrency`` threads), each on its own.
  Only what differs from what is held is stored: the same list or status list again writes
  nothing but the peer's bookkeeping (when it was fetched and how that went), which the trust
  version ignores, so a refresh that brings nothing new makes no process rebuild its snapshot.

Only the list's pinned root becomes an anchor; everything else in the list must chain to it.

**Namespaces.** A list is held only if it claims nothing another anchor holds
(:func:`trustsvc.federation.trust_lists.namespace_refusal`: a local department, another peer's issuer, an
issuer outside the peer's division, a key that is this region's or another peer's). The check
runs in the transaction that stores the list, with the region row locked, so two imports cannot
both claim one issuer; a refusal leaves the held list as it was.

**Deadlines.** Every fetch has one wall-clock deadline over connect, headers and body
(``[trust] fetch_timeout``): the socket timeout is set to the time left before each read, since a
plain socket timeout restarts with every byte a trickling peer sends. All fetches for one peer
in one import or refresh share a budget (``[trust] peer_budget``). A fetch past its deadline is
:class:`~trustsvc.errors.UpstreamTimeoutError` (``peer_fetch_timeout``, HTTP 504).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import http.client
import io
import logging
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..audit import AuditEvent, record
from ..context import TrustService
from ..errors import InvalidInputError, NotFoundError, UpstreamTimeoutError
from ..formats.trust import TrustContext, aware
from ..formats.uscc import validate_uscc
from ..status_lists import verify_status_list
from ..storage.models import CertificateRecord, Department, PeerStatusListRecord, Region, TrustPeerRecord, utcnow
from ..times import iso_utc as _iso
from .trust_lists import (
    MAX_LIST_BYTES,
    NamespaceClaims,
    TrustList,
    TrustListRejected,
    content_of,
    list_certificates,
    namespace_refusal,
    public_key_id,
    verify_trust_list,
)

__all__ = [
    "PeerOutcome",
    "import_peer",
    "refresh_peers",
    "list_peers",
    "peer_json",
    "fetch",
    "same_origin",
    "peer_trust",
    "namespace_claims",
    "TRUST_LIST_PATH",
    "FETCH_TIMEOUT",
    "REGION_HEADER",
]

log = logging.getLogger(__name__)

TRUST_LIST_PATH = "/api/v1/trust-list"
REGION_HEADER = "X-Trustsvc-Region"
"""Sent with every fetch from a peer: the asking region's code, which the peer counts (a
statistic of its dashboard; nobody authenticates it)."""
FETCH_TIMEOUT = 10.0
_HEX64 = set("0123456789abcdef")


def _is_url(source: str) -> bool:
    return source.lower().startswith(("http://", "https://"))


def normalise_source(source: str) -> str:
    """A URL (a bare ``http://host:port`` gets the trust-list path) or an absolute file path."""
    if not isinstance(source, str) or not source.strip() or len(source) > 1000:
        raise InvalidInputError("give the peer's trust-list URL or a file", code="invalid_source", field="url")
    source = source.strip()
    if _is_url(source):
        parts = urllib.parse.urlsplit(source)
        if not parts.hostname:
            raise InvalidInputError(f"{source!r} is not a URL", code="invalid_source", field="url")
        if parts.path in ("", "/"):
            source = urllib.parse.urlunsplit((parts.scheme, parts.netloc, TRUST_LIST_PATH, "", ""))
        return source
    return str(Path(source).resolve())


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A peer's URLs are fetched where they point, never where a server redirects them."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> None:
        fp.close()
        raise urllib.error.HTTPError(req.full_url, code, f"redirect to {newurl} refused", headers, None)


_CHUNK = 64 * 1024


class _DeadlineSocket:
    """A connected socket whose every read and write may take only what is left before one
    deadline (a plain timeout restarts on each read, so a peer sending a byte a second would
    never trip it). Reference-counted like :class:`socket.socket`: http.client closes the
    connection while the response still reads through :meth:`makefile`."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline
        self._io_refs = 0
        self._closed = False

    def _arm(self) -> None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the fetch deadline has passed")
        self._sock.settimeout(left)

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        self._arm()
        return self._sock.recv_into(buffer, nbytes, flags)

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        self._arm()
        return self._sock.recv(bufsize, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:
        self._arm()
        self._sock.sendall(data, flags)

    def makefile(self, mode: str = "rb", buffering: int = -1, **_: Any) -> Any:
        if mode not in ("r", "rb"):
            raise ValueError(f"read-only socket file, not {mode!r}")
        self._io_refs += 1
        raw = socket.SocketIO(self, "rb")  # type: ignore[arg-type]  # duck-typed: recv_into, _decref_socketios
        return io.BufferedReader(raw, buffering if buffering > 0 else io.DEFAULT_BUFFER_SIZE)

    def _decref_socketios(self) -> None:
        self._io_refs -= 1
        if self._closed and self._io_refs <= 0:
            self._sock.close()

    def close(self) -> None:
        self._closed = True
        if self._io_refs <= 0:
            self._sock.close()

    def __getattr__(self, name: str) -> Any:  # fileno, setsockopt, …
        return getattr(self._sock, name)


class _DeadlineHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, deadline: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline = deadline

    def connect(self) -> None:
        self.timeout = max(0.001, self._deadline - time.monotonic())
        super().connect()
        self.sock = _DeadlineSocket(self.sock, self._deadline)  # type: ignore[assignment]


class _DeadlineHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, deadline: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline = deadline

    def connect(self) -> None:
        self.timeout = max(0.001, self._deadline - time.monotonic())  # TCP connect and TLS handshake
        super().connect()
        self.sock = _DeadlineSocket(self.sock, self._deadline)  # type: ignore[assignment]


class _DeadlineHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline: float) -> None:
        super().__init__()
        self._deadline = deadline

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(_DeadlineHTTPConnection, deadline=self._deadline), req)  # type: ignore[arg-type]


class _DeadlineHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: float) -> None:
        super().__init__()
        self._deadline = deadline

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(
            functools.partial(_DeadlineHTTPSConnection, deadline=self._deadline),  # type: ignore[arg-type]
            req,
            context=self._context,  # type: ignore[attr-defined]
        )


def _timed_out(exc: BaseException, deadline: float) -> bool:
    return (
        isinstance(exc, TimeoutError)
        or isinstance(getattr(exc, "reason", None), TimeoutError)
        or time.monotonic() >= deadline
    )


def fetch(
    source: str,
    *,
    limit: int = MAX_LIST_BYTES,
    timeout: float = FETCH_TIMEOUT,
    allow_file: bool = False,
    deadline: float | None = None,
    region: str | None = None,
) -> bytes:
    """The bytes at ``source``, at most ``limit``, within ``timeout`` seconds in all (connect,
    headers and body), and before ``deadline`` (a :func:`time.monotonic` value: a peer's budget).

    Only http(s) URLs, without following redirects, unless ``allow_file`` (an operator's own
    ``trustsvc trust import FILE``): a URL taken from a peer's list must never make this
    service read its own files. (Name resolution is not under the deadline.) ``region``: this
    region's code, sent as :data:`REGION_HEADER`.

    :raises InvalidInputError: ``invalid_source``, ``trust_list_unreachable``.
    :raises UpstreamTimeoutError: ``peer_fetch_timeout``.
    """
    if not _is_url(source) and not allow_file:
        raise InvalidInputError(f"{source!r} is not an http(s) URL", code="invalid_source")
    end = time.monotonic() + timeout
    budget = deadline is not None and deadline < end
    end = min(end, deadline) if deadline is not None else end
    late = UpstreamTimeoutError(
        f"{source} did not deliver within " + ("this peer's time budget" if budget else f"{timeout:g} s")
    )
    try:
        if _is_url(source):
            if time.monotonic() >= end:
                raise late
            headers = {"Accept": "application/cms", "User-Agent": "trustsvc-peer-refresh/1"}
            if region:
                headers[REGION_HEADER] = region
            req = urllib.request.Request(source, headers=headers)
            opener = urllib.request.build_opener(_NoRedirect, _DeadlineHTTPHandler(end), _DeadlineHTTPSHandler(end))
            chunks: list[bytes] = []
            size = 0
            with opener.open(req, timeout=max(0.001, end - time.monotonic())) as resp:
                while size <= limit:
                    if time.monotonic() >= end:
                        raise late
                    chunk = resp.read(min(_CHUNK, limit + 1 - size))
                    if not chunk:
                        break
                    chunks.append(chunk)
                    size += len(chunk)
            data = b"".join(chunks)
        else:
            with open(source, "rb") as fh:
                data = fh.read(limit + 1)
    except UpstreamTimeoutError:
        raise
    except (OSError, ValueError, urllib.error.URLError, http.client.HTTPException) as exc:
        if _is_url(source) and _timed_out(exc, end):
            raise late from exc
        raise InvalidInputError(f"cannot fetch {source}: {type(exc).__name__}", code="trust_list_unreachable") from exc
    if len(data) > limit:
        raise InvalidInputError(f"{source} is larger than {limit} bytes", code="trust_list_unreachable")
    return data


def same_origin(url: str, source: str) -> bool:
    """True when ``url`` has the scheme, host and port of ``source`` (a peer's list URL), or when
    the list came from a file (no origin to hold it to)."""
    if not _is_url(source):
        return True
    a, b = urllib.parse.urlsplit(url), urllib.parse.urlsplit(source)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


def _valid_uscc(text: str) -> bool:
    try:
        return validate_uscc(text) == text
    except InvalidInputError:
        return False


def _check_pin(pin: Any) -> str:
    if not isinstance(pin, str) or len(pin.strip()) != 64 or not set(pin.strip().lower()) <= _HEX64:
        raise InvalidInputError(
            "the pin is the 64 hex digits of SHA-256 of the peer's root CA certificate "
            "(`trustsvc trust pin` prints it)",
            code="invalid_pin",
            field="pin",
        )
    return pin.strip().lower()


def peer_trust(trust_list: TrustList, pin: str) -> TrustContext:
    """Anchors for material of one peer: the root it was pinned by (never another root its
    list may carry) and its CAs from its (checked) list."""
    return TrustContext(
        anchors=tuple(r for r in trust_list.roots if hashlib.sha256(r).hexdigest() == pin),
        intermediates=(*trust_list.cas, *trust_list.status_list_signers),
        anchor_info={},
    )


@dataclass(frozen=True)
class PeerOutcome:
    region: str
    outcome: str
    """imported | updated | unchanged | refused | unreachable"""
    sequence: int | None
    message: str
    status_lists: int = 0
    """Issuer status lists that verified and are held now."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "outcome": self.outcome,
            "sequence": self.sequence,
            "message": self.message,
            "status_lists": self.status_lists,
        }


def _peer(session: Session, region: str) -> TrustPeerRecord | None:
    return session.execute(select(TrustPeerRecord).where(TrustPeerRecord.region_code == region)).scalar_one_or_none()


_HELD_CLAIMS: dict[str, tuple[frozenset[str], frozenset[str]]] = {}
_HELD_CLAIMS_LOCK = threading.Lock()


def _held_claims(body: bytes) -> tuple[frozenset[str], frozenset[str]]:
    """(issuer USCCs, public-key ids) of a held list, kept per list body: parsing every peer's
    certificates again for each import would grow with the number of peers."""
    digest = hashlib.sha256(body).hexdigest()
    with _HELD_CLAIMS_LOCK:
        hit = _HELD_CLAIMS.get(digest)
    if hit is not None:
        return hit
    tl = content_of(body)
    claims = (frozenset(i.uscc for i in tl.issuers), frozenset(public_key_id(d) for _, d in list_certificates(tl)))
    with _HELD_CLAIMS_LOCK:
        if len(_HELD_CLAIMS) >= 256:
            _HELD_CLAIMS.clear()
        _HELD_CLAIMS[digest] = claims
    return claims


def namespace_claims(service: TrustService, session: Session, *, region: str) -> NamespaceClaims:
    """What every anchor but peer ``region`` holds: this region's departments and keys, and the
    other peers' issuers and keys. Locks the region row (PostgreSQL; SQLite's write transaction
    is exclusive already) so concurrent imports are checked one after another."""
    session.execute(select(Region.id).with_for_update()).all()
    local_issuers = frozenset(session.execute(select(Department.uscc)).scalars())
    local_keys = frozenset(public_key_id(d) for d in session.execute(select(CertificateRecord.der)).scalars())
    peer_issuers: dict[str, str] = {}
    peer_keys: dict[str, str] = {}
    for code, body in session.execute(
        select(TrustPeerRecord.region_code, TrustPeerRecord.body).where(TrustPeerRecord.region_code != region)
    ):
        issuers, keys = _held_claims(body)
        peer_issuers.update(dict.fromkeys(issuers, code))
        peer_keys.update(dict.fromkeys(keys, code))
    return NamespaceClaims(
        local_issuers=local_issuers,
        peer_issuers=peer_issuers,
        local_keys=local_keys,
        peer_keys=peer_keys,
        national_issuers=service.config.trust.national_issuers,
    )


def _check_namespace(service: TrustService, session: Session, tl: TrustList) -> None:
    """Refuse ``tl`` (raising inside the storing transaction, which rolls back) when it claims
    what another anchor holds."""
    refusal = namespace_refusal(tl, namespace_claims(service, session, region=tl.region_code))
    if refusal is not None:
        raise TrustListRejected(refusal[1], code=refusal[0])


def _deadline(service: TrustService) -> float:
    return time.monotonic() + service.config.trust.peer_budget


def _fetch(service: TrustService, source: str, deadline: float, **kwargs: Any) -> bytes:
    region = service.config.region.code if service.config.region is not None else None
    return fetch(source, timeout=service.config.trust.fetch_timeout, deadline=deadline, region=region, **kwargs)


def _peek_region(data: bytes) -> str | None:
    try:
        return content_of(data).region_code
    except Exception:
        return None


def import_peer(
    service: TrustService,
    source: str,
    pin: str,
    *,
    actor: str,
    now: dt.datetime | None = None,
    allow_file: bool = False,
) -> PeerOutcome:
    """Import (or re-import, e.g. with a new pin) a peer region's list; see the module docstring.

    :raises TrustListRejected: the list was refused (``trust_list_pin_mismatch``,
        ``trust_list_issuer_is_local`` …).
    :raises InvalidInputError: ``invalid_pin``, ``invalid_source``, ``trust_list_unreachable``,
        ``peer_is_self``.
    :raises UpstreamTimeoutError: ``peer_fetch_timeout``.
    """
    now = aware(now or utcnow())
    pin = _check_pin(pin)
    source = normalise_source(source)
    deadline = _deadline(service)
    data = _fetch(service, source, deadline, allow_file=allow_file)
    grace = dt.timedelta(seconds=service.config.trust.grace)
    region = _peek_region(data)
    with service.db.reader() as session:
        own = session.execute(select(Region)).scalars().first()
        held_row = _peer(session, region) if region else None
        held = (content_of(held_row.body), held_row.body) if held_row is not None and held_row.pin == pin else None
    if own is not None and region == own.code:
        raise InvalidInputError(f"region {region} is this region; a peer is another region", code="peer_is_self")
    checked = verify_trust_list(
        data,
        pin=pin,
        held=held[0] if held else None,
        held_der=held[1] if held else None,
        now=now,
        grace=grace,
        require_announced=False,
    )
    parsed = checked.raise_if_refused()
    with service.db.transaction() as session:
        _check_namespace(service, session, parsed)
        row = _peer(session, parsed.region_code)
        outcome = "imported" if row is None else ("unchanged" if checked.unchanged else "updated")
        if row is None:
            row = TrustPeerRecord(region_code=parsed.region_code, created_at=now)
            session.add(row)
        if not checked.unchanged or row.pin != pin:
            row.body, row.sequence = data, parsed.sequence
            row.issued_at, row.next_update = parsed.issued_at, parsed.next_update
        row.region_name, row.pin, row.source = parsed.region_name, pin, source
        row.fetched_at, row.last_attempt_at, row.status, row.last_error = now, now, "ok", None
        session.flush()
        record(
            session,
            AuditEvent(
                actor=actor,
                action="trust.peer_import",
                object_type="trust_peer",
                object_id=parsed.region_code,
                details={"pin": pin, "source": source, "sequence": parsed.sequence, "outcome": outcome},
            ),
        )
    held_lists = _refresh_status_lists(service, parsed.region_code, now=now, deadline=deadline)
    return PeerOutcome(
        parsed.region_code,
        outcome,
        parsed.sequence,
        f"region {parsed.region_code} {parsed.region_name}: list sequence {parsed.sequence} {outcome}",
        held_lists,
    )


def _refresh_one(service: TrustService, region: str, now: dt.datetime, deadline: float) -> PeerOutcome:
    grace = dt.timedelta(seconds=service.config.trust.grace)
    with service.db.reader() as session:
        row = _peer(session, region)
        if row is None:
            raise NotFoundError(f"no peer {region}", code="peer_not_found")
        source, pin, held_der = row.source, row.pin, row.body
    held = content_of(held_der)
    try:  # the source an operator gave at import (a file only from the CLI)
        data = _fetch(service, source, deadline, allow_file=True)
    except (InvalidInputError, UpstreamTimeoutError) as exc:
        message = f"{exc.code}: {exc.message}"
        _note(service, region, now, "unreachable", message)
        return PeerOutcome(region, "unreachable", held.sequence, message)
    checked = verify_trust_list(data, pin=pin, held=held, held_der=held_der, now=now, grace=grace)
    if not checked.accepted:
        message = f"{checked.reason}: {checked.report.message}"
        _note(service, region, now, "refused", message)
        log.warning("trust list of peer %s refused: %s", region, message)
        return PeerOutcome(region, "refused", held.sequence, message)
    assert checked.trust_list is not None
    parsed = checked.trust_list
    try:
        with service.db.transaction() as session:
            _check_namespace(service, session, parsed)
            row = _peer(session, region)
            assert row is not None
            if not checked.unchanged:
                row.body, row.sequence = data, parsed.sequence
                row.issued_at, row.next_update = parsed.issued_at, parsed.next_update
                row.region_name = parsed.region_name
                record(
                    session,
                    AuditEvent(
                        actor="system",
                        action="trust.peer_update",
                        object_type="trust_peer",
                        object_id=region,
                        details={"sequence": parsed.sequence, "previous": held.sequence},
                    ),
                )
            row.fetched_at, row.last_attempt_at, row.status, row.last_error = now, now, "ok", None
    except TrustListRejected as exc:
        message = f"{exc.code}: {exc.message}"
        _note(service, region, now, "refused", message)
        log.warning("trust list of peer %s refused: %s", region, message)
        return PeerOutcome(region, "refused", held.sequence, message)
    outcome = "unchanged" if checked.unchanged else "updated"
    return PeerOutcome(region, outcome, parsed.sequence, f"list sequence {parsed.sequence} {outcome}")


def _note(service: TrustService, region: str, now: dt.datetime, status: str, message: str) -> None:
    with service.db.transaction() as session:
        row = _peer(session, region)
        if row is not None:
            row.status, row.last_error, row.last_attempt_at = status, message[:2000], now


def _refresh_status_lists(service: TrustService, region: str, *, now: dt.datetime, deadline: float) -> int:
    """Fetch each issuer's status list named by the peer's held list; keep those that verify.
    Within the peer's budget: what is not fetched by ``deadline`` waits for the next refresh."""
    with service.db.reader() as session:
        row = _peer(session, region)
        if row is None:
            return 0
        peer_id, held, pin, source = row.id, content_of(row.body), row.pin, row.source
        seen = {
            s.issuer_uscc: s.sequence
            for s in session.execute(
                select(PeerStatusListRecord).where(PeerStatusListRecord.peer_id == peer_id)
            ).scalars()
        }
    trust = peer_trust(held, pin)
    kept = 0
    for issuer in held.issuers:
        if time.monotonic() >= deadline:
            log.warning(
                "status lists of peer %s: time budget of %d s used up; the rest wait for the next refresh",
                region,
                service.config.trust.peer_budget,
            )
            break
        if not _valid_uscc(issuer.uscc):  # a list held from before issuers were checked
            log.warning(
                "status list of %r (%s) not fetched: not a unified social credit code", issuer.uscc[:40], region
            )
            continue
        if not same_origin(issuer.status_list_url, source):
            log.warning(
                "status list of %s (%s) not fetched: %s is not on the host the list came from (%s)",
                issuer.uscc,
                region,
                issuer.status_list_url,
                source,
            )
            continue
        try:
            data = _fetch(service, issuer.status_list_url, deadline, limit=16 * 1024 * 1024)
        except (InvalidInputError, UpstreamTimeoutError) as exc:
            log.warning("status list of %s (%s) not fetched: %s", issuer.uscc, region, exc.message)
            continue
        checked = verify_status_list(data, trust=trust, now=now, issuer=issuer.uscc, min_sequence=seen.get(issuer.uscc))
        lst = checked.status_list
        if not checked.trusted or lst is None or lst.region_code != region:
            log.warning("status list of %s (%s) refused: %s", issuer.uscc, region, checked.report.message)
            continue
        with service.db.transaction() as session:
            stored = session.execute(
                select(PeerStatusListRecord).where(
                    PeerStatusListRecord.peer_id == peer_id, PeerStatusListRecord.issuer_uscc == issuer.uscc
                )
            ).scalar_one_or_none()
            if stored is None:
                stored = PeerStatusListRecord(peer_id=peer_id, issuer_uscc=issuer.uscc)
                session.add(stored)
            # stored only when it differs from what is held: the same bytes again change no
            # row, so the trust version stays and no process rebuilds its snapshot for nothing
            if stored.sequence is None or (lst.sequence >= stored.sequence and bytes(data) != stored.body):
                stored.url, stored.body, stored.sequence = issuer.status_list_url, data, lst.sequence
                stored.issued_at, stored.next_update, stored.fetched_at = lst.issued_at, lst.next_update, now
            elif stored.url != issuer.status_list_url:
                stored.url = issuer.status_list_url
        kept += 1
    return kept


def refresh_peers(
    service: TrustService, *, now: dt.datetime | None = None, region: str | None = None
) -> list[PeerOutcome]:
    """Refresh every peer (or one): its list, then its issuers' status lists. Never raises for a
    peer's failure: each outcome says what happened."""
    now = aware(now or utcnow())
    with service.db.reader() as session:
        regions = (
            [region]
            if region
            else list(
                session.execute(select(TrustPeerRecord.region_code).order_by(TrustPeerRecord.region_code)).scalars()
            )
        )
    if len(regions) <= 1:
        return [_refresh_peer(service, code, now) for code in regions]
    workers = min(service.config.trust.refresh_concurrency, len(regions))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="trustsvc-peer-refresh") as pool:
        return list(pool.map(lambda code: _refresh_peer(service, code, now), regions))


def _refresh_peer(service: TrustService, code: str, now: dt.datetime) -> PeerOutcome:
    """One peer, on its own budget: whatever goes wrong is recorded on this peer alone."""
    deadline = _deadline(service)
    try:
        result = _refresh_one(service, code, now, deadline)
    except NotFoundError:
        raise
    except Exception as exc:
        log.exception("refreshing peer %s failed", code)
        result = PeerOutcome(code, "unreachable", None, f"{type(exc).__name__}: {exc}")
    try:
        lists = _refresh_status_lists(service, code, now=now, deadline=deadline)
    except Exception:
        log.exception("refreshing the status lists of peer %s failed", code)
        lists = 0
    return PeerOutcome(result.region, result.outcome, result.sequence, result.message, lists)


def peer_json(
    row: TrustPeerRecord,
    *,
    now: dt.datetime,
    grace: dt.timedelta,
    status_lists: list[PeerStatusListRecord] | None = None,
) -> dict[str, Any]:
    stale = now > row.next_update + grace
    return {
        "region": {"code": row.region_code, "name": row.region_name},
        "pin": row.pin,
        "source": row.source,
        "sequence": row.sequence,
        "issued_at": _iso(row.issued_at),
        "next_update": _iso(row.next_update),
        "fetched_at": _iso(row.fetched_at),
        "last_attempt_at": _iso(row.last_attempt_at),
        "status": row.status,
        "last_error": row.last_error,
        "stale": stale,
        "stale_after": _iso(row.next_update + grace),
        "status_lists": [
            {
                "issuer": s.issuer_uscc,
                "sequence": s.sequence,
                "next_update": _iso(s.next_update),
                "stale": now > s.next_update,
            }
            for s in (status_lists or [])
        ],
    }


def list_peers(service: TrustService, *, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    now = aware(now or utcnow())
    grace = dt.timedelta(seconds=service.config.trust.grace)
    with service.db.reader() as session:
        rows = session.execute(select(TrustPeerRecord).order_by(TrustPeerRecord.region_code)).scalars().all()
        return [
            peer_json(
                r,
                now=now,
                grace=grace,
                status_lists=list(
                    session.execute(
                        select(PeerStatusListRecord)
                        .where(PeerStatusListRecord.peer_id == r.id)
                        .order_by(PeerStatusListRecord.issuer_uscc)
                    ).scalars()
                ),
            )
            for r in rows
        ]
