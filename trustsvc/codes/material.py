"""Trust material for service codes: which code-signer certificates a kid may name, the anchors
their paths must reach, and how fresh all that is.

* :class:`CodeTrust` from :func:`code_trust_from_db`: this service's own records, as the holder
  presentations of :mod:`trustsvc.holder` read them when a holder consents (service codes
  themselves are verified by :mod:`trustsvc.verifier` against the trust snapshot);
* :func:`write_code_cache` (``trustsvc code cache DIR``): a cache directory for verifiers
  without the network, read back by :func:`trustsvc.federation.snapshot.load_snapshot_cache`: the region's
  root, issuing CAs and code-signer certificates, and each issuer's newest signed status list,
  with ``exported_at`` and ``next_update``. Past ``next_update`` the cache is stale and
  verifications fail closed.

The cache file itself is not signed: it is exported on a machine the verifier trusts. Peer
regions' material comes from the signed trust lists that machine imported by pin
(:mod:`trustsvc.federation.snapshot`): the cache's ``peers`` carry each fresh peer's pinned root, CAs, code
signers and licence types per issuer, and ``status/`` their issuers' status lists too; the
cache's ``next_update`` is no later than the first peer list goes stale.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asn1crypto import pem
from sqlalchemy import select
from sqlalchemy.orm import Session

from trustsvc.times import iso_utc

from ..context import TrustService
from ..errors import InvalidInputError
from ..federation.local_trust import local_trust_context
from ..federation.snapshot import build_snapshot
from ..formats.trust import TrustContext
from ..formats.uscc import validate_uscc
from ..status_lists import StatusListVerification, current_status_list, verify_status_list
from ..storage import Database
from ..storage.models import CertificateRecord, Department, PeerStatusListRecord, Region, StatusListRecord
from .format import kid_for

__all__ = [
    "CodeTrust",
    "code_trust_from_db",
    "write_code_cache",
    "CACHE_FORMAT",
    "CACHE_LIFETIME",
    "TRUST_FILE",
    "STATUS_DIR",
    "status_list_path",
]

log = logging.getLogger(__name__)

CACHE_FORMAT = "trustsvc-code-cache/1"
CACHE_LIFETIME = dt.timedelta(days=1)
TRUST_FILE = "trust.json"
STATUS_DIR = "status"
CODE_SIGNER_PROFILE = "code_signer"
STATUS_LIST_RECHECK = dt.timedelta(seconds=60)
"""How long one verification of a held status list is reused (see CodeTrust.verified_status_list)."""


@dataclass(frozen=True)
class CodeTrust:
    """What a code verification may rely on."""

    trust: TrustContext
    """Anchors, intermediates and revocation for the code-signer's path."""
    signers: Mapping[bytes, tuple[bytes, ...]]
    """kid → code-signer certificates (DER) with that kid (collisions are all tried)."""
    source: str
    """``local database`` or ``cache <dir>``."""
    region: str | None = None
    exported_at: dt.datetime | None = None
    next_update: dt.datetime | None = None
    """None: live material (this service's own records), never stale."""
    status_lists: Mapping[str, bytes] = field(default_factory=dict)
    """Issuer USCC → the signed status list body as cached (offline verification only)."""
    _verified_lists: dict[str, tuple[StatusListVerification, dt.datetime]] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def verified_status_list(self, issuer: str, now: dt.datetime) -> StatusListVerification | None:
        """The cached status list of ``issuer``, verified against :attr:`trust`, or None.

        A verification is reused until the list's ``next_update`` or for
        :data:`STATUS_LIST_RECHECK`, whichever comes first: only its freshness and the signer's
        revocation status can change while the bytes do not, and re-checking the CMS, the
        chain and the bitstring for every code was three quarters of an offline verification."""
        body = self.status_lists.get(issuer)
        if body is None:
            return None
        held = self._verified_lists.get(issuer)
        if held is not None and now < held[1]:
            return held[0]
        checked = verify_status_list(body, trust=self.trust, now=now, issuer=issuer)
        until = now + STATUS_LIST_RECHECK
        if checked.status_list is not None and not checked.stale:
            until = min(until, checked.status_list.next_update)
        self._verified_lists[issuer] = (checked, until)
        return checked

    def certificates_for(self, kid: bytes) -> tuple[bytes, ...]:
        return self.signers.get(kid, ())

    def stale(self, now: dt.datetime) -> bool:
        return self.next_update is not None and now > self.next_update

    def freshness(self, now: dt.datetime) -> dict[str, Any]:
        """What ``status_now.trust`` says about this material."""
        return {
            "source": self.source,
            "region": self.region,
            "exported_at": iso_utc(self.exported_at),
            "next_update": iso_utc(self.next_update),
            "stale": self.stale(now),
        }


def _signer_map(ders: list[bytes]) -> dict[bytes, tuple[bytes, ...]]:
    out: dict[bytes, tuple[bytes, ...]] = {}
    for der in ders:
        kid = kid_for(der)
        out[kid] = (*out.get(kid, ()), der)
    return out


def _stored_status_lists(session: Session) -> dict[str, bytes]:
    lists: dict[str, bytes] = {}
    for dept in session.execute(select(Department)).scalars():
        newest = session.execute(
            select(StatusListRecord.body)
            .where(StatusListRecord.department_id == dept.id)
            .order_by(StatusListRecord.sequence.desc())
            .limit(1)
        ).scalar_one_or_none()
        if newest is not None:
            lists[dept.uscc] = newest
    return lists


def code_trust_from_db(db: Database, *, status_lists: bool = False) -> CodeTrust:
    """This region's own anchors, CAs and code-signer certificates, with live revocation;
    with ``status_lists``, also each issuer's newest *stored* signed status list (what an
    offline verification on this machine may use)."""
    trust = local_trust_context(db)
    with db.reader() as session:
        region = session.execute(select(Region)).scalars().first()
        ders = list(
            session.execute(
                select(CertificateRecord.der)
                .where(CertificateRecord.profile == CODE_SIGNER_PROFILE)
                .order_by(CertificateRecord.id)
            ).scalars()
        )
        lists = _stored_status_lists(session) if status_lists else {}
    return CodeTrust(
        trust=trust,
        signers=_signer_map(ders),
        source="local database",
        region=region.code if region else None,
        status_lists=lists,
    )


def _pem(der: bytes) -> str:
    return pem.armor("CERTIFICATE", der).decode("ascii")


def write_code_cache(
    service: TrustService, directory: Path, *, now: dt.datetime | None = None, lifetime: dt.timedelta = CACHE_LIFETIME
) -> Path:
    """Export what an offline verifier needs into ``directory`` (created if missing).

    Writes ``trust.json`` (certificates as PEM, ``exported_at``, ``next_update``) and
    ``status/<USCC>.bin``: each issuer's current signed status list (made now if due), exactly
    as ``GET /api/v1/status/{issuer}`` serves it. Files are replaced atomically, so a verifier
    reading concurrently sees old or new. A peer's issuer whose USCC could not be a safe file
    name (see :func:`status_list_path`) is left out, with a warning.
    """
    now = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    db = service.db
    with db.reader() as session:
        region = session.execute(select(Region)).scalars().first()
        certs = session.execute(select(CertificateRecord).order_by(CertificateRecord.id)).scalars().all()
        departments = list(session.execute(select(Department.uscc)).scalars())
        dept_ids = {row.id: row.uscc for row in session.execute(select(Department.id, Department.uscc))}
    lists = {uscc: current_status_list(service, uscc, now=now).der for uscc in departments}
    peers, peer_lists, fresh_until = _peer_material(service, now)
    lists.update({k: v for k, v in peer_lists.items() if k not in lists})
    body = {
        "format": CACHE_FORMAT,
        "region": region.code if region else None,
        "exported_at": iso_utc(now),
        "next_update": iso_utc(min([now + lifetime, *fresh_until])),
        "anchors": [_pem(c.der) for c in certs if c.profile == "root_ca"],
        "intermediates": [_pem(c.der) for c in certs if c.profile == "issuing_ca"],
        "code_signers": [_pem(c.der) for c in certs if c.profile == CODE_SIGNER_PROFILE],
        "status_list_signers": [_pem(c.der) for c in certs if c.profile == "status_list_signer"],
        "peers": peers,
        "issuer_signers": {
            uscc: [_pem(c.der) for c in certs if c.profile == "signer" and dept_ids.get(c.department_id or -1) == uscc]
            for uscc in departments
        },
    }
    directory.mkdir(parents=True, exist_ok=True)
    (directory / STATUS_DIR).mkdir(exist_ok=True)
    for uscc, data in lists.items():
        try:
            path = status_list_path(directory, uscc)
        except InvalidInputError as exc:
            log.warning("status list of issuer %r left out of the code cache: %s", uscc[:40], exc.message)
            continue
        _replace(path, data)
    _replace(directory / TRUST_FILE, json.dumps(body, ensure_ascii=False, indent=1).encode("utf-8"))
    return directory / TRUST_FILE


def status_list_path(directory: Path, issuer: str) -> Path:
    """``directory/status/<USCC>.bin`` for a well-formed USCC, and never a path outside
    ``directory/status``: the issuer may come from a peer's list.

    :raises InvalidInputError: ``unsafe_file_name``.
    """
    try:
        safe = validate_uscc(issuer) == issuer
    except InvalidInputError:
        safe = False
    if not safe:
        raise InvalidInputError(f"{issuer[:40]!r} is not a unified social credit code", code="unsafe_file_name")
    base = (directory / STATUS_DIR).resolve()
    path = (base / f"{issuer}.bin").resolve()
    if path.parent != base:
        raise InvalidInputError(f"{issuer!r} names a file outside {base}", code="unsafe_file_name")
    return path


def _peer_material(
    service: TrustService, now: dt.datetime
) -> tuple[list[dict[str, Any]], dict[str, bytes], list[dt.datetime]]:
    """Fresh peer regions, one namespace each as the trust snapshot holds them: their pinned
    roots, CAs, code signers and licence types per issuer, their issuers' held status lists, and
    when each goes stale (the cache is no fresher than the oldest of them)."""
    snapshot = build_snapshot(service.db, grace=dt.timedelta(seconds=service.config.trust.grace), now=now)
    peers: list[dict[str, Any]] = []
    lists: dict[str, bytes] = {}
    until: list[dt.datetime] = []
    held: set[str] = set()
    for ns in snapshot.namespaces:
        if ns.kind != "peer" or ns.stale(now) or ns.stale_after is None:
            continue
        peers.append(
            {
                "region": ns.region_code,
                "name": ns.region_name,
                "list_sequence": ns.list_sequence,
                "anchors": [_pem(d) for d in ns.anchors],
                "intermediates": [_pem(d) for d in ns.trust.intermediates],
                "code_signers": [_pem(s.der) for signers in ns.code_signers.values() for s in signers],
                "licence_types": {uscc: sorted(types) for uscc, types in ns.grants.items()},
                "issuer_signers": {uscc: [_pem(d) for d in ders] for uscc, ders in ns.issuer_signers.items()},
            }
        )
        until.append(ns.stale_after)
        held.update(ns.issuers)
    with service.db.reader() as session:
        for row in session.execute(select(PeerStatusListRecord)).scalars():
            if row.issuer_uscc in held:
                lists.setdefault(row.issuer_uscc, row.body)
    return peers, lists, until


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
