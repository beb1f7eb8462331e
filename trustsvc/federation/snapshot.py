"""The trust snapshot: everything a verification relies on, as one immutable, versioned object.

Mutual recognition rests on one rule: every trust anchor (this region's root, and each peer's
*pinned* root) owns a **namespace**, and an object validates only inside the namespace of its
issuer. A namespace holds

* its anchor, and the CAs that only it vouches for (this region's records for the local
  namespace; the peer's list for a peer's), with the CAs of each issuer kept apart so an issuer's
  objects validate along that issuer's CA and the namespace's shared CAs (services, status lists)
  only;
* its issuers (department USCCs) and the licence types each may sign;
* its code signers by kid, each with its public key, SM2 ``Z`` and the CAs of its path worked
  out once, so a code costs one signature check;
* every issuer's newest status list, decoded and checked against the namespace once, the first
  time a verification needs it (:class:`HeldLists`; a list checked by an earlier snapshot is not
  checked again); its freshness is judged later, against the verification time;
* for a peer, the held list's sequence and times and when it goes stale (``next_update`` plus
  the grace), as times, never as a verdict taken at build time.

Because a peer's certificates live only in the peer's namespace, a peer cannot issue under one
of our departments' USCCs (our department's namespace holds none of its certificates), nor take
over our paths with cross-certificates over our CA keys (they never join our context). An issuer
no namespace holds is vouched for by nobody.

:func:`build_snapshot` reads the database (the version first: a change racing the build shows
as a newer version at the next poll, so a snapshot never claims a version newer than what it
holds); :func:`load_snapshot_cache` reads an exported code cache (``trustsvc code cache``) into
the same model. A :class:`BuildCache` keeps decoded trust lists, checked status lists and code
signer paths by content hash across rebuilds, so a rebuild after a small change redoes only
what changed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from sqlalchemy import and_, func, select
from sqlalchemy.orm import defer

from ca.certs import ParsedCertificate, load_certificates, parse_certificate
from ca.errors import CertificateError
from ca.revocation import RevocationChecker, RevocationStatus
from ca.validate import validate_path
from hsm import KeyAlgorithm, PublicKey, load_public_key, sm2_z
from hsm.errors import TrustSvcError

from ..codes.format import kid_for
from ..errors import InvalidInputError
from ..formats.seal_status import PublishedSeal, SealStatusBook, SealStatusChange
from ..formats.trust import TrustContext, aware
from ..formats.uscc import validate_uscc
from ..licences.catalogue import catalogue_for
from ..licences.identifier import parse_identifier
from ..licences.status import LicenceStatus
from ..status_lists import StatusList, verify_status_list
from ..storage import Database
from ..storage.models import (
    CertificateRecord,
    Department,
    LicenceTypeGrant,
    PeerStatusListRecord,
    Region,
    StatusListRecord,
    TrustPeerRecord,
    utcnow,
)
from ..times import iso_utc as _iso
from .trust_lists import TrustList, content_of

__all__ = [
    "LOCAL",
    "issuer_of",
    "make_namespace",
    "SOURCE_DATABASE",
    "BuildCache",
    "CodeSigner",
    "HeldStatusList",
    "Namespace",
    "TrustSnapshot",
    "build_snapshot",
    "load_snapshot_cache",
    "empty_snapshot",
]

LOCAL = "local"
"""The name of this region's namespace."""
SOURCE_DATABASE = "local database"
CACHE_FORMAT = "trustsvc-code-cache/1"
_TRUST_FILE = "trust.json"
_STATUS_DIR = "status"
_SKEW = dt.timedelta(minutes=5)
_CODE_SIGNER = "code_signer"
_NOT_OURS = RevocationStatus("unknown", source="not issued by this service")
_RECORDS = "local certificate records"

NamespaceKind = Literal["local", "peer", "given"]
_T = TypeVar("_T")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _digest(*parts: Iterable[bytes | str] | bytes | str) -> str:
    h = hashlib.sha256()
    for part in parts:
        items: Iterable[bytes | str] = [part] if isinstance(part, (bytes, str)) else part
        for item in items:
            raw = item.encode() if isinstance(item, str) else item
            h.update(len(raw).to_bytes(4, "big") + raw)
    return h.hexdigest()


def issuer_of(identifier: str | None) -> str | None:
    """The issuer USCC a licence identifier names, or None when it is not an identifier."""
    if identifier is None:
        return None
    try:
        return _issuer_of(identifier)
    except TrustSvcError:
        return None


_issuer_cache: dict[str, str] = {}


def _issuer_of(identifier: str) -> str:
    found = _issuer_cache.get(identifier)
    if found is None:
        found = parse_identifier(identifier).issuer_code
        if len(_issuer_cache) > 65536:
            _issuer_cache.clear()
        _issuer_cache[identifier] = found
    return found


# -- parts ---------------------------------------------------------------------------------------


class SnapshotRevocation:
    """Revocation of this region's own certificates as its records said when the snapshot was
    built (the certificate table is watched, so a revocation makes a new snapshot); any other
    certificate is ``unknown`` here, exactly as the records would say."""

    def __init__(self, entries: Mapping[str, RevocationStatus]) -> None:
        self._entries = dict(entries)
        revoked = sorted(f"{k}:{v.revoked_at}" for k, v in self._entries.items() if v.status == "revoked")
        self.digest = _digest(revoked)

    def check(self, cert: ParsedCertificate, issuer: ParsedCertificate, at: dt.datetime) -> RevocationStatus:
        return self._entries.get(cert.sha256, _NOT_OURS)

    def status_of(self, sha256: str) -> RevocationStatus:
        return self._entries.get(sha256, _NOT_OURS)


@dataclass(frozen=True)
class HeldStatusList:
    """An issuer's newest status list as this namespace holds it, checked at build time."""

    issuer: str
    sha256: str
    status_list: StatusList | None
    """Decoded, unless it is unreadable or its signature fails."""
    problem: str | None = None
    """Why it cannot be relied on (signature, signer's chain to the namespace's anchor, issuer);
    None: it can, as long as it is fresh at the verification time."""
    issued_at_iso: str | None = None
    next_update_iso: str | None = None

    @property
    def trusted(self) -> bool:
        return self.status_list is not None and self.problem is None


@dataclass(frozen=True, eq=False)
class CodeSigner:
    """A code-signer certificate with what verifying a code under it needs, worked out once."""

    kid: bytes
    der: bytes
    certificate: ParsedCertificate | None
    key: PublicKey | None
    """None: the certificate or its key is unreadable (no code verifies under it)."""
    z: bytes | None
    """SM2: ``Z`` for the default ID, so a verification hashes only ``Z || message``."""
    trust: TrustContext
    """The namespace's anchor and just the CAs of this signer's path (a tiny path search)."""
    revocation: RevocationStatus
    """What the revocation source says about this certificate (``status_now`` needs it)."""
    assessed: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)
    """Path assessments already made, by signing time (see :mod:`trustsvc.verifier`)."""

    @property
    def algorithm(self) -> KeyAlgorithm | None:
        return None if self.key is None else self.key.algorithm


@dataclass(frozen=True, eq=False)
class Namespace:
    """What one anchor vouches for (see the module docstring). Build with :func:`make_namespace`."""

    name: str
    """``local``, ``peer:<region code>`` or ``given`` (certificates trusted on the command line)."""
    kind: NamespaceKind
    region_code: str | None
    region_name: str | None
    source: str
    anchors: tuple[bytes, ...]
    shared_cas: tuple[bytes, ...]
    """CAs every object of the namespace may chain through (services CA, status-list signers)."""
    issuer_cas: Mapping[str, tuple[bytes, ...]]
    """Issuer USCC → its own CAs."""
    issuers: frozenset[str]
    grants: Mapping[str, frozenset[str]]
    """Issuer USCC → the licence types it may sign (empty: not checked)."""
    code_signers: Mapping[bytes, tuple[CodeSigner, ...]]
    status_lists: Mapping[str, HeldStatusList]
    revocation: RevocationChecker | None
    anchor_info: Mapping[str, Mapping[str, Any]]
    trust: TrustContext
    """The whole namespace: for objects that name no issuer (seals, CMS, certificates)."""
    list_sequence: int | None = None
    list_issued_at: dt.datetime | None = None
    list_next_update: dt.datetime | None = None
    stale_after: dt.datetime | None = None
    """A peer's list is not relied on after this time (its ``next_update`` plus the grace)."""
    live_status: bool = False
    """The local namespace built from this region's own database: every status change publishes
    its issuer's list in the same transaction, so the newest list is the records' word whatever
    its age (an exported cache is judged by the lists' own freshness)."""
    catch_all: bool = False
    """Anchors given on the command line vouch for issuers no other namespace holds."""
    digest: str = ""
    issuer_signers: Mapping[str, tuple[bytes, ...]] = field(default_factory=dict)
    """Issuer USCC → its signer certificates: their keys seal its licences and sign each licence
    version's MSO (the holder presentations of :mod:`trustsvc.holder`)."""
    _scoped: dict[str, TrustContext] = field(default_factory=dict, repr=False, compare=False)
    _scoped_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    _reasons: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    memo: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    """What a verifier derives from this namespace alone (a passed check's wording per kid),
    remembered; keyed only by what the namespace holds, so bounded by it. Not carried over by
    ``dataclasses.replace``."""

    @property
    def label(self) -> str:
        if self.kind == "local":
            return f"this region ({self.region_code})" if self.region_code else "this region"
        if self.kind == "peer":
            return f"region {self.region_code}"
        return "the anchors given"

    def stale(self, now: dt.datetime) -> bool:
        return self.stale_after is not None and now > self.stale_after

    def trust_for(self, issuer: str | None) -> TrustContext:
        """The context an object of ``issuer`` validates with: the anchor, the shared CAs and
        that issuer's own CAs (the whole namespace when ``issuer`` is None)."""
        if issuer is None or not self.issuer_cas:
            return self.trust
        found = self._scoped.get(issuer)
        if found is None:
            found = dataclasses.replace(self.trust, intermediates=(*self.shared_cas, *self.issuer_cas.get(issuer, ())))
            with self._scoped_lock:
                if len(self._scoped) > 4096:
                    self._scoped.clear()
                self._scoped[issuer] = found
        return found

    def licence_status(self, identifier: str, status_index: int | None, now: dt.datetime) -> LicenceStatus:
        """A licence's status from its issuer's list held in this namespace (never anything else)."""
        issuer = _issuer_of(identifier)
        held = self.status_lists.get(issuer)
        lst = held.status_list if held is not None else None
        why: str | None = None
        if held is None:
            why = f"no status list of issuer {issuer} from {self.label} is held; {self._hint}"
        elif lst is None or held.problem is not None:
            why = f"the status list of {issuer} from {self.label} cannot be relied on: {held.problem}"
        elif lst.issued_at > now + _SKEW:
            why = (
                f"the status list of {issuer} from {self.label} (sequence {lst.sequence}) was issued in the "
                f"future ({_iso(lst.issued_at)}); check the clock"
            )
        elif now > lst.next_update and not self.live_status:
            why = (
                f"the status list of {issuer} from {self.label} (sequence {lst.sequence}) is stale since "
                f"{_iso(lst.next_update)}; {self._hint}"
            )
        elif status_index is None:
            why = f"it names no status index, so {self.label}'s status list cannot be consulted"
        if why is not None or lst is None or status_index is None:
            return LicenceStatus(identifier=identifier, status="unknown", reason=why, changed_at=None, valid_until=None)
        try:
            status = lst.status_of(status_index)
        except TrustSvcError as exc:
            why = f"status list sequence {lst.sequence} of {issuer} from {self.label}: {exc.message}"
            return LicenceStatus(identifier=identifier, status="unknown", reason=why, changed_at=None, valid_until=None)
        reason = self._reasons.get(issuer)
        if reason is None:
            assert held is not None
            reason = f"per the status list of {issuer} from {self.label}, sequence {lst.sequence} issued {held.issued_at_iso}"
            self._reasons[issuer] = reason
        return LicenceStatus(identifier=identifier, status=status, reason=reason, changed_at=None, valid_until=None)

    @property
    def _hint(self) -> str:
        return "run `trustsvc trust refresh`" if self.kind == "peer" else "it is published with the next change"

    def status_list_summary(self, issuer: str, now: dt.datetime) -> dict[str, Any]:
        """What ``status_now.status_list`` says about the list a status came from."""
        held = self.status_lists.get(issuer)
        lst = held.status_list if held is not None else None
        return {
            "issuer": issuer,
            "namespace": self.name,
            "sequence": lst.sequence if lst else None,
            "issued_at": held.issued_at_iso if held else None,
            "next_update": held.next_update_iso if held else None,
            "stale": (now > lst.next_update) if lst else None,
            "trusted": held.trusted if held is not None else None,
        }


def make_namespace(
    *,
    name: str,
    kind: NamespaceKind,
    region_code: str | None,
    region_name: str | None,
    source: str,
    anchors: tuple[bytes, ...],
    shared_cas: tuple[bytes, ...],
    issuer_cas: Mapping[str, tuple[bytes, ...]],
    issuers: frozenset[str],
    grants: Mapping[str, frozenset[str]],
    revocation: RevocationChecker | None,
    anchor_info: Mapping[str, Mapping[str, Any]],
    code_signers: Mapping[bytes, tuple[CodeSigner, ...]] | None = None,
    status_lists: Mapping[str, HeldStatusList] | None = None,
    seal_status: Any = None,
    **extra: Any,
) -> Namespace:
    """A namespace with its whole-namespace :class:`TrustContext` and content digest."""
    every_ca = (*shared_cas, *(der for cas in issuer_cas.values() for der in cas))
    authorisations = {_sha256(a): dict(grants) for a in anchors} if grants else {}
    trust = TrustContext(
        anchors=anchors,
        intermediates=tuple(dict.fromkeys(every_ca)),
        revocation=revocation,
        anchor_info=anchor_info,
        authorisations=authorisations,
        seal_status=seal_status,
    )
    # each namespace's revocation source speaks only for its own certificates (ours for ours, a
    # peer's list for the peer's), so a revocation re-checks nothing of any other namespace
    rev_digest = getattr(revocation, "digest", "") if kind in ("local", "peer") else ""
    digest = _digest(name, anchors, sorted(every_ca), rev_digest)
    return Namespace(
        name=name,
        kind=kind,
        region_code=region_code,
        region_name=region_name,
        source=source,
        anchors=anchors,
        shared_cas=shared_cas,
        issuer_cas=dict(issuer_cas),
        issuers=issuers,
        grants=dict(grants),
        code_signers=dict(code_signers or {}),
        status_lists=status_lists if isinstance(status_lists, HeldLists) else dict(status_lists or {}),
        revocation=revocation,
        anchor_info=anchor_info,
        trust=trust,
        digest=digest,
        **extra,
    )


# -- the snapshot --------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class TrustSnapshot:
    """One immutable view of all trust material; share it across threads, never change it."""

    version: int
    """The trust-version counter it was built at (-1: not from a database)."""
    built_at: dt.datetime
    region_code: str | None
    region_name: str | None
    source: str
    """``local database`` or ``cache <dir>``."""
    namespaces: tuple[Namespace, ...]
    """This region's first, then the peers in the order they were imported."""
    by_issuer: Mapping[str, Namespace]
    by_kid: Mapping[bytes, Namespace]
    by_name: Mapping[str, Namespace]
    refused: tuple[str, ...] = ()
    """What a namespace could not hold (an issuer held already, an unreadable list), and why."""
    exported_at: dt.datetime | None = None
    next_update: dt.datetime | None = None
    """An exported cache: nothing in it is relied on after this time (None: live material)."""
    build_seconds: float = 0.0
    memo: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    """What a verifier derives from this snapshot alone (e.g. the wording of its trust-material
    check), remembered; a few fixed keys. Not carried over by ``dataclasses.replace``."""

    @property
    def local(self) -> Namespace | None:
        return next((ns for ns in self.namespaces if ns.kind == "local"), None)

    def namespace(self, name: str) -> Namespace | None:
        return self.by_name.get(name)

    def namespace_for_issuer(self, uscc: str | None) -> Namespace | None:
        """The namespace holding ``uscc`` (anchors given on the command line take the rest)."""
        if uscc is None:
            return None
        found = self.by_issuer.get(uscc)
        if found is None:
            found = next((ns for ns in self.namespaces if ns.catch_all), None)
        return found

    def namespace_for_kid(self, kid: bytes) -> Namespace | None:
        return self.by_kid.get(kid)

    def stale(self, now: dt.datetime) -> bool:
        return self.next_update is not None and now > self.next_update

    def freshness(self, now: dt.datetime) -> dict[str, Any]:
        """What ``status_now.trust`` says about the material a code was judged with."""
        return {**self._freshness, "stale": self.stale(now)}

    @functools.cached_property
    def _freshness(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "region": self.region_code,
            "version": self.version,
            "built_at": _iso(self.built_at),
            "exported_at": _iso(self.exported_at),
            "next_update": _iso(self.next_update),
        }

    @property
    def rebuild_at(self) -> dt.datetime | None:
        """The first time after the build when a held peer list goes stale (a holder rebuilds then)."""
        times = [ns.stale_after for ns in self.namespaces if ns.stale_after and ns.stale_after > self.built_at]
        return min(times, default=None)

    def with_given(self, anchors: Iterable[bytes] = (), intermediates: Iterable[bytes] = ()) -> TrustSnapshot:
        """This snapshot plus certificates given by hand (``trustsvc verify --anchor/--cert``):
        the extra intermediates help every namespace build paths (an untrusted helper cannot
        create trust); the extra anchors form a namespace of their own, tried last, which
        vouches for issuers no other namespace holds."""
        extra, anchors = tuple(intermediates), tuple(anchors)
        if not extra and not anchors:
            return self
        spaces = [
            ns
            if not extra
            else make_namespace(
                name=ns.name,
                kind=ns.kind,
                region_code=ns.region_code,
                region_name=ns.region_name,
                source=ns.source,
                anchors=ns.anchors,
                shared_cas=(*ns.shared_cas, *extra),
                issuer_cas=ns.issuer_cas,
                issuers=ns.issuers,
                grants=ns.grants,
                revocation=ns.revocation,
                anchor_info=ns.anchor_info,
                code_signers=ns.code_signers,
                status_lists=ns.status_lists,
                list_sequence=ns.list_sequence,
                list_issued_at=ns.list_issued_at,
                list_next_update=ns.list_next_update,
                stale_after=ns.stale_after,
                live_status=ns.live_status,
                catch_all=ns.catch_all,
                issuer_signers=ns.issuer_signers,
                seal_status=ns.trust.seal_status,
            )
            for ns in self.namespaces
        ]
        if anchors:
            info = {_sha256(a): {"source": "given", "namespace": "given"} for a in anchors}
            spaces.append(
                make_namespace(
                    name="given",
                    kind="given",
                    region_code=None,
                    region_name=None,
                    source="given",
                    anchors=anchors,
                    shared_cas=extra,
                    issuer_cas={},
                    issuers=frozenset(),
                    grants={},
                    revocation=None,
                    anchor_info=info,
                    catch_all=True,
                )
            )
        return _assemble(
            self.version,
            self.built_at,
            self.region_code,
            self.region_name,
            self.source,
            spaces,
            list(self.refused),
            exported_at=self.exported_at,
            next_update=self.next_update,
        )


def _assemble(
    version: int,
    built_at: dt.datetime,
    region_code: str | None,
    region_name: str | None,
    source: str,
    spaces: list[Namespace],
    refused: list[str],
    **extra: Any,
) -> TrustSnapshot:
    by_issuer: dict[str, Namespace] = {}
    by_kid: dict[bytes, Namespace] = {}
    for ns in spaces:
        for uscc in ns.issuers:
            by_issuer.setdefault(uscc, ns)
        for kid in ns.code_signers:
            by_kid.setdefault(kid, ns)
    return TrustSnapshot(
        version=version,
        built_at=built_at,
        region_code=region_code,
        region_name=region_name,
        source=source,
        namespaces=tuple(spaces),
        by_issuer=by_issuer,
        by_kid=by_kid,
        by_name={ns.name: ns for ns in spaces},
        refused=tuple(refused),
        **extra,
    )


def empty_snapshot(*, now: dt.datetime | None = None) -> TrustSnapshot:
    """Trust nothing (a verifier with no region and no cache): every chain is INDETERMINATE."""
    return _assemble(-1, aware(now or utcnow()), None, None, "nothing", [], [])


# -- building ------------------------------------------------------------------------------------


class BuildCache:
    """What one rebuild may reuse from the previous ones, keyed by content: decoded trust lists
    (by body), checked status lists and prepared code signers (by namespace digest and body).
    Entries a build did not use are dropped when it ends, so the cache never outgrows one
    snapshot. Used by one builder at a time (the holder builds under its lock)."""

    def __init__(self) -> None:
        self._entries: dict[Any, Any] = {}
        self._used: set[Any] = set()
        self._lock = threading.Lock()  # status lists are checked at first use, from any thread
        self._recording = threading.local()
        self.hits = 0
        self.misses = 0

    @contextlib.contextmanager
    def recording(self) -> Iterator[set[Any]]:
        """Collect the keys this thread gets or peeks meanwhile (what a peer namespace rests on)."""
        keys: set[Any] = set()
        self._recording.keys = keys
        try:
            yield keys
        finally:
            self._recording.keys = None

    def keep(self, keys: Iterable[Any]) -> None:
        """Mark ``keys`` used by this build (an entry reused whole keeps what it rests on)."""
        with self._lock:
            self._used.update(keys)

    def get(self, key: Any, make: Callable[[], _T]) -> _T:
        recording = getattr(self._recording, "keys", None)
        if recording is not None:
            recording.add(key)
        with self._lock:
            self._used.add(key)
            if key in self._entries:
                self.hits += 1
                return self._entries[key]  # type: ignore[no-any-return]
            self.misses += 1
        value = make()
        with self._lock:
            self._entries[key] = value
        return value

    def peek(self, key: Any) -> Any:
        """The entry for ``key`` (kept by this build), or None when there is none yet."""
        recording = getattr(self._recording, "keys", None)
        if recording is not None:
            recording.add(key)
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._used.add(key)
                self.hits += 1
            return found

    def begin(self) -> None:
        with self._lock:
            self._used = set()
            self.hits = self.misses = 0

    def end(self) -> None:
        with self._lock:
            self._entries = {k: v for k, v in self._entries.items() if k in self._used}


def _check_status_list(body: bytes, issuer: str, trust: TrustContext, now: dt.datetime) -> HeldStatusList:
    checked = verify_status_list(body, trust=trust, now=now, issuer=issuer)
    problems = [c.detail for c in checked.report.checks if c.result == "failed" and c.name != "status_list.freshness"]
    lst = checked.status_list
    return HeldStatusList(
        issuer=issuer,
        sha256=_sha256(body),
        status_list=lst,
        problem=problems[0] if problems else None,
        issued_at_iso=_iso(lst.issued_at) if lst else None,
        next_update_iso=_iso(lst.next_update) if lst else None,
    )


@dataclass(frozen=True)
class _SignerPrep:
    certificate: ParsedCertificate | None
    key: PublicKey | None
    z: bytes | None
    path_cas: tuple[bytes, ...] | None


def _prepare_signer(der: bytes, trust: TrustContext, now: dt.datetime) -> _SignerPrep:
    try:
        cert = parse_certificate(der)
        key = load_public_key(cert.spki)
        z = sm2_z(key.point) if key.algorithm is KeyAlgorithm.SM2 else None
    except TrustSvcError:
        return _SignerPrep(None, None, None, None)
    path_cas = None
    try:
        result = validate_path(
            cert, intermediates=trust.intermediates, anchors=trust.anchors, at=now, revocation=trust.revocation
        )
        if result.anchor is not None:
            path_cas = tuple(c.der for c in result.path[1:-1])
    except (TrustSvcError, ValueError):
        path_cas = None
    return _SignerPrep(cert, key, z, path_cas)


def _code_signers(
    ders: Iterable[bytes],
    ns: Namespace,
    cache: BuildCache,
    now: dt.datetime,
    revocation: Callable[[str], RevocationStatus],
) -> dict[bytes, tuple[CodeSigner, ...]]:
    out: dict[bytes, tuple[CodeSigner, ...]] = {}
    for der in dict.fromkeys(ders):
        prep = cache.get(("signer", ns.digest, _sha256(der)), functools.partial(_prepare_signer, der, ns.trust, now))
        trust = ns.trust if prep.path_cas is None else dataclasses.replace(ns.trust, intermediates=prep.path_cas)
        kid = kid_for(der)
        signer = CodeSigner(
            kid=kid,
            der=der,
            certificate=prep.certificate,
            key=prep.key,
            z=prep.z,
            trust=trust,
            revocation=revocation(_sha256(der)),
        )
        out[kid] = (*out.get(kid, ()), signer)
    return out


class HeldLists(Mapping[str, HeldStatusList]):
    """Issuer USCC → its held status list, each checked (CMS signature, signer's path in the
    namespace, issuer) the first time a verification asks for it, then remembered, here and in
    the :class:`BuildCache` for later snapshots. A region holding 30 peers of 1,000 issuers
    would otherwise spend most of every process's first build checking 30,000 signatures, most
    of which no verification may need for hours."""

    def __init__(
        self,
        known: Mapping[str, HeldStatusList],
        checks: Mapping[str, Callable[[], HeldStatusList]],
        keys: Mapping[str, Any] | None = None,
    ) -> None:
        self._done: dict[str, HeldStatusList] = dict(known)
        self._checks = dict(checks)
        self._keys = dict(keys or {})
        self._order = (*self._done, *(u for u in self._checks if u not in self._done))
        self._lock = threading.Lock()

    def checked_keys(self) -> list[Any]:
        """The :class:`BuildCache` keys of the lists checked so far (a rebuild keeps them)."""
        return [self._keys[u] for u in list(self._done) if u in self._keys]

    def __getitem__(self, uscc: str) -> HeldStatusList:
        found = self._done.get(uscc)
        if found is None:
            check = self._checks[uscc]  # KeyError: not held
            with self._lock:  # one check per list, however many threads ask at once
                found = self._done.get(uscc)
                if found is None:
                    found = self._done[uscc] = check()
        return found

    def get(self, uscc: str, default: Any = None) -> Any:
        """As :meth:`Mapping.get`, without its Python-level detour (the verify hot path asks
        twice per code)."""
        found = self._done.get(uscc)
        if found is not None:
            return found
        try:
            return self[uscc]
        except KeyError:
            return default

    def __iter__(self) -> Iterator[str]:
        return iter(self._order)

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, uscc: object) -> bool:
        return uscc in self._done or uscc in self._checks


def _held_lists(bodies: Mapping[str, bytes], ns: Namespace, cache: BuildCache, now: dt.datetime) -> HeldLists:
    # keyed by what the check depends on: the issuer's own scope, so a list change that adds or
    # drops another issuer re-checks nothing of this one's; checked now only when an earlier
    # build (or a verification since) checked it already, else at first use
    rev_digest = getattr(ns.revocation, "digest", "") if ns.kind in ("local", "peer") else ""
    scope = _digest(ns.name, ns.anchors, ns.shared_cas, rev_digest)
    known: dict[str, HeldStatusList] = {}
    checks: dict[str, Callable[[], HeldStatusList]] = {}
    keys: dict[str, Any] = {}
    for uscc, body in bodies.items():
        key = keys[uscc] = (
            "status",
            scope,
            ns.issuer_cas.get(uscc, ()) if ns.issuer_cas else ns.trust.intermediates,
            uscc,
            _sha256(body),
        )
        found = cache.peek(key)
        if found is not None:
            known[uscc] = found
        else:
            checks[uscc] = functools.partial(cache.get, key, functools.partial(_check_held, body, uscc, ns, now))
    return HeldLists(known, checks, keys)


def _check_held(body: bytes, uscc: str, ns: Namespace, now: dt.datetime) -> HeldStatusList:
    return _check_status_list(body, uscc, ns.trust_for(uscc), now)


@functools.lru_cache(maxsize=65536)
def _valid_uscc(uscc: str) -> bool:
    try:
        return validate_uscc(uscc) == uscc
    except (InvalidInputError, AttributeError):
        return False


def _signers_by_issuer(certs: Iterable[CertificateRecord], by_dept: Mapping[int, str]) -> dict[str, tuple[bytes, ...]]:
    out: dict[str, tuple[bytes, ...]] = {}
    for c in certs:
        owner = by_dept.get(c.department_id) if c.profile == "signer" and c.department_id is not None else None
        if owner is not None:
            out[owner] = (*out.get(owner, ()), c.der)
    return out


def _local_namespace(
    session: Any, region: Region, certs: list[CertificateRecord], cache: BuildCache, now: dt.datetime
) -> tuple[Namespace, SnapshotRevocation]:
    entries: dict[str, RevocationStatus] = {}
    for c in certs:
        if c.status == "revoked" and c.revoked_at is not None:
            entries[c.sha256] = RevocationStatus(
                "revoked", revoked_at=aware(c.revoked_at), reason=c.revocation_reason, source=_RECORDS
            )
        else:
            entries[c.sha256] = RevocationStatus("good", source=_RECORDS)
    revocation = SnapshotRevocation(entries)
    depts = list(session.execute(select(Department).order_by(Department.uscc)).scalars())
    granted: dict[int, set[str]] = {}
    for dept_id, type_code in session.execute(select(LicenceTypeGrant.department_id, LicenceTypeGrant.type_code)):
        granted.setdefault(dept_id, set()).add(type_code)
    catalogue = frozenset(t.code for t in catalogue_for(region.code))
    grants = {d.uscc: frozenset(granted[d.id]) if d.id in granted else catalogue for d in depts}
    by_dept = {d.id: d.uscc for d in depts}
    anchors = tuple(c.der for c in certs if c.profile == "root_ca")
    issuer_cas: dict[str, tuple[bytes, ...]] = {d.uscc: () for d in depts}
    shared: list[bytes] = []
    for c in certs:
        if c.profile != "issuing_ca":
            continue
        owner = by_dept.get(c.department_id) if c.department_id is not None else None
        if owner is None:
            shared.append(c.der)
        else:
            issuer_cas[owner] = (*issuer_cas[owner], c.der)
    info = {
        _sha256(a): {"region": region.code, "name": region.name, "source": "local", "namespace": LOCAL} for a in anchors
    }
    ns = make_namespace(
        name=LOCAL,
        kind="local",
        region_code=region.code,
        region_name=region.name,
        source=SOURCE_DATABASE,
        anchors=anchors,
        shared_cas=tuple(shared),
        issuer_cas=issuer_cas,
        issuers=frozenset(by_dept.values()),
        grants=grants,
        revocation=revocation,
        anchor_info=info,
        live_status=True,
        seal_status=local_seal_book(session, f"this region ({region.code})"),
    )
    newest = (
        select(StatusListRecord.department_id, func.max(StatusListRecord.sequence).label("seq"))
        .group_by(StatusListRecord.department_id)
        .subquery()
    )
    bodies = {
        by_dept[dept_id]: body
        for dept_id, body in session.execute(
            select(StatusListRecord.department_id, StatusListRecord.body).join(
                newest,
                and_(
                    StatusListRecord.department_id == newest.c.department_id, StatusListRecord.sequence == newest.c.seq
                ),
            )
        )
        if dept_id in by_dept
    }
    signers = _code_signers((c.der for c in certs if c.profile == _CODE_SIGNER), ns, cache, now, revocation.status_of)
    ns = dataclasses.replace(ns, issuer_signers=_signers_by_issuer(certs, by_dept))
    return dataclasses.replace(ns, code_signers=signers, status_lists=_held_lists(bodies, ns, cache, now)), revocation


class _PeerRevocation(SnapshotRevocation):
    """A peer's list is the whole word on the certificates of its namespace: one it does not
    list as revoked is good (it is consulted only on paths to that peer's pinned root)."""

    def __init__(self, entries: Mapping[str, RevocationStatus], default: RevocationStatus) -> None:
        super().__init__(entries)
        self._default = default

    def check(self, cert: ParsedCertificate, issuer: ParsedCertificate, at: dt.datetime) -> RevocationStatus:
        return self._entries.get(cert.sha256, self._default)

    def status_of(self, sha256: str) -> RevocationStatus:
        return self._entries.get(sha256, self._default)


def peer_revocation(tl: TrustList) -> SnapshotRevocation:
    """Revocation of a peer's certificates as its held list says (``revoked``); a list from
    before ``revoked`` was published says nothing (unknown), as before."""
    if tl.revoked is None:
        return SnapshotRevocation({})
    source = f"region {tl.region_code}'s trust list (sequence {tl.sequence})"
    entries = {
        r.sha256: RevocationStatus("revoked", revoked_at=r.revoked_at, reason=r.reason, source=source)
        for r in tl.revoked
    }
    return _PeerRevocation(entries, RevocationStatus("good", source=source))


def local_seal_book(session: Any, source: str) -> SealStatusBook:
    """This region's seals with their status histories, from its records."""
    from .trust_lists import published_seals

    seals = []
    for dept in session.execute(select(Department)).scalars():
        for s in published_seals(session, dept):
            seals.append(
                PublishedSeal(
                    s["esid"],
                    s["sha256"],
                    s["status"],
                    tuple(SealStatusChange(c["status"], _parse_iso(c["at"]), c["reason"]) for c in s["changes"]),
                )
            )
    return SealStatusBook(seals, source)


def _parse_iso(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def _peer_namespace(
    row: TrustPeerRecord,
    tl: TrustList,
    *,
    taken: Mapping[str, str],
    grace: dt.timedelta,
    lists: Mapping[str, bytes],
    cache: BuildCache,
    now: dt.datetime,
    refused: list[str],
) -> Namespace:
    name = f"peer:{tl.region_code}"
    anchors = tuple(r for r in tl.roots if _sha256(r) == row.pin)
    held: dict[str, Any] = {}
    for entry in tl.issuers:
        if not _valid_uscc(entry.uscc):
            refused.append(f"{name}: issuer {entry.uscc[:40]!r} is not a unified social credit code")
        elif entry.uscc in taken:
            refused.append(f"{name}: issuer {entry.uscc} is held by {taken[entry.uscc]}")
        elif entry.uscc not in held:
            held[entry.uscc] = entry
    issuer_ca_ders = {e.ca for e in tl.issuers}
    shared = tuple(c for c in dict.fromkeys((*tl.cas, *tl.status_list_signers)) if c not in issuer_ca_ders)
    stale_after = aware(row.next_update) + grace
    info = {
        _sha256(a): {
            "region": tl.region_code,
            "name": tl.region_name,
            "source": "trust list",
            "namespace": name,
            "list_sequence": tl.sequence,
            "list_issued_at": _iso(tl.issued_at),
            "list_next_update": _iso(tl.next_update),
            "stale_after": _iso(stale_after),
        }
        for a in anchors
    }
    # the peer's own word on its certificates and seals (never ours: namespaces stay apart)
    revocation = peer_revocation(tl)
    seals = SealStatusBook((s for e in held.values() for s in e.seals), f"region {tl.region_code}'s trust list")
    ns = make_namespace(
        name=name,
        kind="peer",
        region_code=tl.region_code,
        region_name=tl.region_name,
        source="trust list",
        anchors=anchors,
        shared_cas=shared,
        issuer_cas={u: (e.ca,) for u, e in held.items()},
        issuers=frozenset(held),
        grants={u: e.licence_types for u, e in held.items()},
        revocation=revocation,
        anchor_info=info,
        list_sequence=tl.sequence,
        list_issued_at=tl.issued_at,
        list_next_update=tl.next_update,
        stale_after=stale_after,
        seal_status=seals,
    )
    ns = dataclasses.replace(ns, issuer_signers={u: e.signers for u, e in held.items()})
    signers = _code_signers((c.cert for c in tl.code_signers), ns, cache, now, revocation.status_of)
    bodies = {u: b for u, b in lists.items() if u in held}
    return dataclasses.replace(ns, code_signers=signers, status_lists=_held_lists(bodies, ns, cache, now))


@dataclass(frozen=True)
class _PeerBuilt:
    """A peer's namespace as a build made it (None: its list was unreadable), and what it refused."""

    namespace: Namespace | None
    refused: tuple[str, ...]
    keys: frozenset[Any] = frozenset()
    """The cache entries it rests on (its decoded list, code signers, status lists checked then)."""
    holds: str = ""
    """Digest of the issuers it holds (all later peers' namespaces depend on, nothing else of it)."""


def _build_peer(
    db: Database,
    row: TrustPeerRecord,
    *,
    taken: Mapping[str, str],
    grace: dt.timedelta,
    cache: BuildCache,
    now: dt.datetime,
) -> _PeerBuilt:
    """One peer's namespace from its rows (the list and the status lists read now)."""
    with db.reader() as session:
        body = session.execute(select(TrustPeerRecord.body).where(TrustPeerRecord.id == row.id)).scalar_one_or_none()
        lists = dict(
            session.execute(
                select(PeerStatusListRecord.issuer_uscc, PeerStatusListRecord.body).where(
                    PeerStatusListRecord.peer_id == row.id
                )
            ).all()
        )
    if body is None:  # removed since the build began: the next build will not see it either
        return _PeerBuilt(None, ())
    problems: list[str] = []
    with cache.recording() as keys:
        try:
            tl = cache.get(("list", _sha256(body)), functools.partial(content_of, body))
        except TrustSvcError as exc:
            return _PeerBuilt(None, (f"peer:{row.region_code}: the held list is unreadable ({exc.message})",))
        ns = _peer_namespace(row, tl, taken=taken, grace=grace, lists=lists, cache=cache, now=now, refused=problems)
    return _PeerBuilt(ns, tuple(problems), frozenset(keys), _digest(ns.label, sorted(ns.issuers)))


def build_snapshot(
    db: Database, *, grace: dt.timedelta, now: dt.datetime | None = None, cache: BuildCache | None = None
) -> TrustSnapshot:
    """Build the snapshot of what ``db`` holds now (see the module docstring)."""
    started = time.perf_counter()
    now = aware(now or utcnow())
    cache = cache or BuildCache()
    cache.begin()
    version = db.trust_version()
    refused: list[str] = []
    spaces: list[Namespace] = []
    with db.reader() as session:
        region = session.execute(select(Region)).scalars().first()
        certs = list(session.execute(select(CertificateRecord).order_by(CertificateRecord.id)).scalars())
        if region is not None:
            local, _revocation = _local_namespace(session, region, certs, cache, now)
            spaces.append(local)
        # A peer whose rows did not change since an earlier build (same list row, same status-list
        # rows by the database's own fingerprint, same issuers held before it) keeps its namespace:
        # neither its list (megabytes for 1,000 issuers) nor its status lists are read or hashed.
        peers = list(
            session.execute(
                select(TrustPeerRecord).options(defer(TrustPeerRecord.body)).order_by(TrustPeerRecord.id)
            ).scalars()
        )
        prints = {
            peer_id: tuple(rest)
            for peer_id, *rest in session.execute(
                select(
                    PeerStatusListRecord.peer_id,
                    func.count(),
                    func.sum(PeerStatusListRecord.sequence),
                    func.min(PeerStatusListRecord.id),
                    func.max(PeerStatusListRecord.id),
                    func.max(PeerStatusListRecord.fetched_at),
                    func.max(PeerStatusListRecord.issued_at),
                ).group_by(PeerStatusListRecord.peer_id)
            )
        }
    taken = dict.fromkeys(spaces[0].issuers, spaces[0].label) if spaces else {}
    held_before = _digest(sorted(taken))
    for row in peers:
        stamp = (
            "peer",
            held_before,
            row.id,
            row.region_code,
            row.pin,
            row.sequence,
            _iso(row.issued_at),
            _iso(row.next_update),
            grace,
            repr(prints.get(row.id)),
        )
        made = cache.peek(stamp)
        if made is not None:
            checked = getattr(made.namespace.status_lists, "checked_keys", list) if made.namespace else list
            cache.keep((*made.keys, *checked()))
        else:
            made = cache.get(
                stamp, functools.partial(_build_peer, db, row, taken=taken, grace=grace, cache=cache, now=now)
            )
        refused.extend(made.refused)
        if made.namespace is not None:
            taken.update(dict.fromkeys(made.namespace.issuers, made.namespace.label))
            spaces.append(made.namespace)
            held_before = _digest(held_before, made.holds)
    cache.end()
    return _assemble(
        version,
        now,
        region.code if region else None,
        region.name if region else None,
        SOURCE_DATABASE,
        spaces,
        refused,
        build_seconds=time.perf_counter() - started,
    )


# -- an exported code cache ----------------------------------------------------------------------


def _cache_error(message: str) -> InvalidInputError:
    return InvalidInputError(message, code="invalid_code_cache")


def _cache_certs(body: Mapping[str, Any], name: str) -> tuple[bytes, ...]:
    items = body.get(name, [])
    if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
        raise _cache_error(f"{_TRUST_FILE}: {name} must be a list of PEM certificates")
    try:
        return tuple(c.der for x in items for c in load_certificates(x.encode("ascii")))
    except (CertificateError, UnicodeError) as exc:
        raise _cache_error(f"{_TRUST_FILE}: {name} holds an unreadable certificate") from exc


def _cache_time(body: Mapping[str, Any], name: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(str(body.get(name)).replace("Z", "+00:00"))
    except ValueError as exc:
        raise _cache_error(f"{_TRUST_FILE}: {name} is not an ISO 8601 time") from exc
    if parsed.tzinfo is None:
        raise _cache_error(f"{_TRUST_FILE}: {name} has no time zone")
    return parsed.astimezone(dt.UTC)


def _cache_issuer_signers(body: Mapping[str, Any], issuers: Iterable[str]) -> dict[str, tuple[bytes, ...]]:
    """The held issuers' signer certificates an exported cache carries (older caches: none)."""
    given = body.get("issuer_signers", {})
    if not isinstance(given, dict):
        raise _cache_error(f"{_TRUST_FILE}: issuer_signers must be an object")
    return {u: _cache_certs(given, u) for u in issuers if u in given}


def load_snapshot_cache(directory: Path, *, now: dt.datetime | None = None) -> TrustSnapshot:
    """Read a cache written by ``trustsvc code cache DIR`` into the snapshot model: this
    region's namespace (its root, CAs, code signers; its issuers are those of its status lists
    no peer vouches for) and one namespace per peer (pinned root, CAs, code signers, issuers
    with their licence types), every status list checked against its issuer's namespace.
    Nothing is relied on after the cache's ``next_update``.

    :raises InvalidInputError: ``invalid_code_cache`` when the directory holds no readable cache.
    """
    now = aware(now or utcnow())
    path = directory / _TRUST_FILE
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _cache_error(f"no readable code cache at {path}") from exc
    if not isinstance(body, dict) or body.get("format") != CACHE_FORMAT:
        raise _cache_error(f"{path} is not a {CACHE_FORMAT} file")
    region = body.get("region") if isinstance(body.get("region"), str) else None
    source = f"cache {directory}"
    peers = body.get("peers", [])
    if not isinstance(peers, list) or not all(isinstance(p, dict) for p in peers):
        raise _cache_error(f"{_TRUST_FILE}: peers must be a list of objects")
    bodies: dict[str, bytes] = {}
    status_dir = directory / _STATUS_DIR
    if status_dir.is_dir():
        for item in sorted(status_dir.glob("*.bin")):
            if _valid_uscc(item.stem):
                bodies[item.stem] = item.read_bytes()
    cache, refused = BuildCache(), []
    peer_issuers: dict[str, Mapping[str, Any]] = {}
    for peer in peers:
        types = peer.get("licence_types", {})
        if not isinstance(types, dict):
            raise _cache_error(f"{_TRUST_FILE}: peers[].licence_types must be an object")
        peer_issuers[str(peer.get("region"))] = types
    claimed = {str(u) for types in peer_issuers.values() for u in types}
    local_issuers = frozenset(u for u in bodies if u not in claimed)
    anchors = _cache_certs(body, "anchors")
    info = {_sha256(a): {"region": region, "source": source, "namespace": LOCAL} for a in anchors}
    local = make_namespace(
        name=LOCAL,
        kind="local",
        region_code=region,
        region_name=None,
        source=source,
        anchors=anchors,
        shared_cas=(*_cache_certs(body, "intermediates"), *_cache_certs(body, "status_list_signers")),
        issuer_cas={},
        issuers=local_issuers,
        grants={},
        revocation=None,
        anchor_info=info,
    )
    no_revocation: Callable[[str], RevocationStatus] = lambda _sha: _NOT_OURS  # noqa: E731
    local = dataclasses.replace(
        local,
        code_signers=_code_signers(_cache_certs(body, "code_signers"), local, cache, now, no_revocation),
        status_lists=_held_lists({u: bodies[u] for u in local_issuers}, local, cache, now),
    )
    local = dataclasses.replace(local, issuer_signers=_cache_issuer_signers(body, local.issuers))
    spaces = [local]
    taken = dict.fromkeys(local.issuers, local.label)
    for peer in peers:
        code = str(peer.get("region"))
        name = f"peer:{code}"
        held: dict[str, frozenset[str]] = {}
        for uscc, types in peer_issuers[code].items():
            if not _valid_uscc(str(uscc)) or not isinstance(types, list):
                refused.append(f"{name}: issuer {str(uscc)[:40]!r} is not a unified social credit code")
            elif uscc in taken:
                refused.append(f"{name}: issuer {uscc} is held by {taken[uscc]}")
            else:
                held[uscc] = frozenset(map(str, types))
        roots = _cache_certs(peer, "anchors")
        info = {
            _sha256(a): {
                "region": code,
                "name": peer.get("name"),
                "source": source,
                "namespace": name,
                "list_sequence": peer.get("list_sequence"),
            }
            for a in roots
        }
        ns = make_namespace(
            name=name,
            kind="peer",
            region_code=code,
            region_name=peer.get("name") if isinstance(peer.get("name"), str) else None,
            source=source,
            anchors=roots,
            shared_cas=_cache_certs(peer, "intermediates"),
            issuer_cas={},
            issuers=frozenset(held),
            grants=held,
            revocation=None,
            anchor_info=info,
            list_sequence=peer.get("list_sequence") if isinstance(peer.get("list_sequence"), int) else None,
        )
        ns = dataclasses.replace(
            ns,
            code_signers=_code_signers(_cache_certs(peer, "code_signers"), ns, cache, now, no_revocation),
            status_lists=_held_lists({u: b for u, b in bodies.items() if u in held}, ns, cache, now),
            issuer_signers=_cache_issuer_signers(peer, held),
        )
        taken.update(dict.fromkeys(ns.issuers, ns.label))
        spaces.append(ns)
    return _assemble(
        -1,
        now,
        region,
        None,
        source,
        spaces,
        refused,
        exported_at=_cache_time(body, "exported_at"),
        next_update=_cache_time(body, "next_update"),
    )
