"""What a verification in this region relies on once peers are imported: this region's own
trust plus every peer list held (DESIGN §4, issue 6 "cross-region verification").

:func:`load_registry` builds a :class:`Registry` from the database:

* anchors: this region's root and each peer's *pinned* root (the only certificate of a peer
  list that becomes an anchor); intermediates: every CA listed; ``anchor_info`` names the
  region, the source (``local`` or ``trust list``) and, for peers, the list sequence and times,
  so a report's trust path says which list vouched for it;
* ``authorisations``: per anchor, which licence types each issuer may sign;
* code signers by kid, from this region's records and the peers' lists.

A peer whose held list is past ``next_update`` + ``[trust] grace`` is **stale**: its anchors stay
(so the report can say why) but :func:`enforce_freshness` turns any verdict that relied on it
into INDETERMINATE / TRUST_LIST_STALE. A peer licence's status comes from its issuer's signed
status list as last fetched from the peer (``trustsvc trust refresh``), never from our records.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from ca.results import TRUST_LIST_STALE, Check, Indication
from hsm.errors import TrustSvcError

from .audit import AuditEvent, record
from .codes.format import DYNAMIC, CodeFormatError, decode_code, kid_for
from .codes.material import CODE_SIGNER_PROFILE, CodeTrust
from .codes.online import verify_code_online
from .codes.verify import verify_code_common
from .licences.identifier import parse_identifier
from .licences.status import LicenceStatus, add_status_check, licence_status
from .local_trust import local_trust_context
from .peers import peer_trust
from .report import VerificationReport
from .status_lists import verify_status_list
from .storage import Database
from .storage.models import (
    CertificateRecord,
    Department,
    PeerStatusListRecord,
    Region,
    StatusListRecord,
    TrustPeerRecord,
    utcnow,
)
from .trust import TrustContext, aware
from .trust_lists import TrustList, content_of, issuer_licence_types

__all__ = ["PeerView", "Registry", "load_registry", "RegistryStatusLookup",
           "verify_code_with_registry", "enforce_freshness", "peer_licence_status"]


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@functools.lru_cache(maxsize=64)
def _decoded(body: bytes) -> TrustList:
    """Held lists were checked on import; decoding is all that is left (cached per body)."""
    return content_of(body)


@dataclass(frozen=True)
class PeerView:
    id: int
    region_code: str
    region_name: str
    pin: str
    trust_list: TrustList
    stale: bool
    stale_after: dt.datetime

    @property
    def sequence(self) -> int:
        return self.trust_list.sequence

    def trust(self) -> TrustContext:
        return peer_trust(self.trust_list, self.pin)


def _sha(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


@dataclass(frozen=True)
class Registry:
    region_code: str | None
    trust: TrustContext
    peers: tuple[PeerView, ...]
    code_signers: Mapping[bytes, tuple[bytes, ...]]
    local_issuers: frozenset[str]
    now: dt.datetime

    def peer_for_issuer(self, uscc: str) -> PeerView | None:
        for peer in self.peers:
            if peer.trust_list.issuer(uscc) is not None:
                return peer
        return None

    def code_trust(self, db: Database, *, status_lists: bool = False) -> CodeTrust:
        """Service-code material: local and peer code signers; with ``status_lists``, the
        newest stored list of every local and peer issuer (offline verification)."""
        lists: dict[str, bytes] = {}
        if status_lists:
            with db.reader() as session:
                for dept in session.execute(select(Department)).scalars():
                    body = session.execute(
                        select(StatusListRecord.body).where(StatusListRecord.department_id == dept.id)
                        .order_by(StatusListRecord.sequence.desc()).limit(1)).scalar_one_or_none()
                    if body is not None:
                        lists[dept.uscc] = body
                for row in session.execute(select(PeerStatusListRecord)).scalars():
                    lists.setdefault(row.issuer_uscc, row.body)
        source = "local database" + (f" and {len(self.peers)} peer trust list(s)" if self.peers else "")
        return CodeTrust(trust=self.trust, signers=self.code_signers, source=source, region=self.region_code,
                         status_lists=lists)


def load_registry(db: Database, *, grace: dt.timedelta, now: dt.datetime | None = None) -> Registry:
    """This region's trust plus every held peer list (stale ones flagged)."""
    now = aware(now or utcnow())
    local = local_trust_context(db)
    anchors, intermediates = list(local.anchors), list(local.intermediates)
    info: dict[str, Mapping[str, Any]] = dict(local.anchor_info)
    authorisations: dict[str, Mapping[str, frozenset[str]]] = {}
    signers: dict[bytes, tuple[bytes, ...]] = {}
    with db.reader() as session:
        region = session.execute(select(Region)).scalars().first()
        depts = list(session.execute(select(Department)).scalars())
        if region is not None:
            table = {d.uscc: frozenset(issuer_licence_types(session, d, region.code)) for d in depts}
            for der in local.anchors:
                authorisations[_sha(der)] = table
        for der in session.execute(select(CertificateRecord.der).where(
                CertificateRecord.profile == CODE_SIGNER_PROFILE).order_by(CertificateRecord.id)).scalars():
            signers[kid_for(der)] = (*signers.get(kid_for(der), ()), der)
        rows = list(session.execute(select(TrustPeerRecord).order_by(TrustPeerRecord.region_code)).scalars())
    peers = []
    for row in rows:
        try:
            tl = _decoded(row.body)
        except TrustSvcError:
            continue
        stale_after = row.next_update + grace
        peer = PeerView(row.id, row.region_code, row.region_name, row.pin, tl, now > stale_after, stale_after)
        peers.append(peer)
        for root in peer.trust().anchors:
            anchors.append(root)
            info[_sha(root)] = {"region": tl.region_code, "name": tl.region_name, "source": "trust list",
                                "list_sequence": tl.sequence, "list_issued_at": _iso(tl.issued_at),
                                "list_next_update": _iso(tl.next_update), "stale": peer.stale,
                                "stale_after": _iso(stale_after)}
            authorisations[_sha(root)] = tl.authorisations()
        intermediates.extend(tl.cas)
        for entry in tl.code_signers:
            signers[entry.kid] = (*signers.get(entry.kid, ()), entry.cert)
    trust = TrustContext(anchors=tuple(anchors), intermediates=tuple(intermediates), revocation=local.revocation,
                         anchor_info=info, authorisations=authorisations)
    return Registry(region_code=region.code if region else None, trust=trust, peers=tuple(peers),
                    code_signers=signers, local_issuers=frozenset(d.uscc for d in depts), now=now)


# -- freshness ----------------------------------------------------------------------------------

def enforce_freshness(report: VerificationReport) -> VerificationReport:
    """A verdict that relied on a stale peer list is INDETERMINATE / TRUST_LIST_STALE (a FAILED
    one stays FAILED: a broken signature is broken whatever the list's age)."""
    stale = [t for t in report.trust_path if t.get("trust_anchor") and t.get("stale")]
    if not stale or any(c.name == "trust_list.freshness" for c in report.checks):
        return report
    t = stale[0]
    message = (f"the trust list of region {t.get('region')} (sequence {t.get('list_sequence')}) is stale: its "
               f"next_update {t.get('list_next_update')} plus the grace passed at {t.get('stale_after')}; "
               "nothing it vouches for is relied on until `trustsvc trust refresh` fetches a newer list")
    checks = (*report.checks, Check("trust_list.freshness", "failed", message))
    if report.indication is Indication.FAILED:
        return dataclasses.replace(report, checks=checks)
    return dataclasses.replace(report, indication=Indication.INDETERMINATE, sub_indication=TRUST_LIST_STALE,
                               message=message, checks=checks)


# -- peer licence status ------------------------------------------------------------------------

def _unknown(identifier: str, why: str) -> LicenceStatus:
    return LicenceStatus(identifier=identifier, status="unknown", reason=why, changed_at=None, valid_until=None)


def peer_licence_status(db: Database, peer: PeerView, identifier: str, status_index: int | None, *,
                        now: dt.datetime) -> LicenceStatus:
    """A peer licence's status from its issuer's signed status list as last fetched."""
    issuer = parse_identifier(identifier).issuer_code
    where = f"region {peer.region_code}"
    if status_index is None:
        return _unknown(identifier, f"it names no status index, so {where}'s status list cannot be consulted")
    with db.reader() as session:
        row = session.execute(select(PeerStatusListRecord).where(
            PeerStatusListRecord.peer_id == peer.id, PeerStatusListRecord.issuer_uscc == issuer)).scalar_one_or_none()
        body = row.body if row is not None else None
    if body is None:
        return _unknown(identifier, f"no status list of issuer {issuer} from {where} is held; "
                                    "run `trustsvc trust refresh`")
    checked = verify_status_list(body, trust=peer.trust(), now=now, issuer=issuer)
    lst = checked.status_list
    if lst is None or checked.report.indication is Indication.FAILED:
        return _unknown(identifier, f"the status list of {issuer} from {where} does not verify: "
                                    f"{checked.report.message}")
    if checked.stale:
        return _unknown(identifier, f"the status list of {issuer} from {where} (sequence {lst.sequence}) is stale "
                                    f"since {_iso(lst.next_update)}; run `trustsvc trust refresh`")
    if not checked.report.passed:
        return _unknown(identifier, f"the status list of {issuer} from {where} is not trusted: "
                                    f"{checked.report.message}")
    try:
        status = lst.status_of(status_index)
    except TrustSvcError as exc:
        return _unknown(identifier, f"status list sequence {lst.sequence} of {where}: {exc.message}")
    reason = f"per the status list of {issuer} from {where}, sequence {lst.sequence} issued {_iso(lst.issued_at)}"
    return LicenceStatus(identifier=parse_identifier(identifier).text, status=status, reason=reason,
                         changed_at=None, valid_until=None)


class RegistryStatusLookup:
    """``lookup(identifier, status_index=None)`` for licence PDFs: our records for our issuers,
    the peer's signed status list for a peer's, None for issuers nobody vouches for."""

    def __init__(self, db: Database, registry: Registry, *, now: dt.datetime | None = None) -> None:
        self._db, self._registry, self._now = db, registry, now

    def __call__(self, identifier: str, *, status_index: int | None = None) -> LicenceStatus | None:
        issuer = parse_identifier(identifier).issuer_code
        if issuer in self._registry.local_issuers:
            return licence_status(self._db, identifier, now=self._now)
        peer = self._registry.peer_for_issuer(issuer)
        if peer is None:
            return None
        return peer_licence_status(self._db, peer, identifier, status_index, now=aware(self._now or utcnow()))


# -- service codes ------------------------------------------------------------------------------

def verify_code_with_registry(db: Database, text: Any, *, registry: Registry, actor: str | None = None,
                              purpose: str | None = None, now: dt.datetime | None = None) -> VerificationReport:
    """Online verification: a code of this region as :func:`verify_code_online` does (live
    status, single use); a peer's code against its list, with its status from the peer's status
    list (a peer's dynamic code cannot be used up here: a warning)."""
    material = registry.code_trust(db)
    try:
        iss = decode_code(text).claims.iss
    except CodeFormatError:
        iss = None
    if iss is None or iss == registry.region_code:
        return enforce_freshness(verify_code_online(db, text, actor=actor, purpose=purpose, now=now,
                                                    material=material))
    now_ = aware(now or utcnow())
    builder, code = verify_code_common(text, material=material, now=now_)
    if code is not None:
        try:
            issuer = parse_identifier(code.claims.sub).issuer_code
        except TrustSvcError as exc:
            builder.fail("licence.status", "FORMAT_FAILURE", f"the code's licence identifier is invalid: {exc.message}")
            issuer = None
        if issuer is not None:
            peer = registry.peer_for_issuer(issuer)
            status = (peer_licence_status(db, peer, code.claims.sub, code.claims.status_index, now=now_)
                      if peer is not None else None)
            add_status_check(builder, status, identifier=code.claims.sub)
        if code.claims.typ == DYNAMIC:
            builder.warn("code.single_use", f"a dynamic code of region {iss} is used up only by its own region")
    report = enforce_freshness(builder.build())
    if actor is not None:
        with db.transaction() as session:
            record(session, AuditEvent(
                actor=actor, action="code.verify", object_type="licence",
                object_id=code.claims.sub if code is not None else "",
                details={"purpose": purpose, "region": iss, "type": code.claims.typ if code else None,
                         "indication": report.indication.value, "sub_indication": report.sub_indication}))
    return report
