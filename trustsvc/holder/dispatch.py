"""Presentations and holder codes inside the region verifier: the trust snapshot as
:class:`~trustsvc.holder.material.HolderTrust`, so ``POST /api/v1/verify``, the ``/verify`` page
and ``trustsvc verify`` judge them as they judge every code.

Scoping follows the snapshot's namespaces: the envelope's kid must be a code signer of some
namespace (and ``iss`` that namespace's region, checked on the path); an MSO naming issuer X
verifies only under X's own signer certificates, held by the namespace that holds X, along that
namespace's trust for X; its status comes only from that namespace's list of X (this region's
live records when verifying online here). A stale peer namespace vouches for nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ca.results import TRUST_LIST_STALE, TRY_LATER

from ..codes.format import kid_for
from ..formats.report import VerificationReport
from ..formats.trust import TrustContext
from ..licences.status import licence_status
from ..storage import Database
from .format import envelope_type
from .material import StatusAnswer
from .verify import OnlineUse, verify_holder_text

__all__ = ["SnapshotHolderTrust", "envelope_type", "verify_holder_in_snapshot"]


@dataclass(frozen=True)
class SnapshotHolderTrust:
    """A :class:`~trustsvc.federation.snapshot.TrustSnapshot` seen as holder trust material."""

    snapshot: Any
    """The :class:`~trustsvc.federation.snapshot.TrustSnapshot` (typed loosely: this module sits below it)."""
    live: Database | None = None
    """This region's database: its own licences' status live from the records (online)."""

    @property
    def source(self) -> str:
        return str(self.snapshot.source)

    def code_signers(self, kid: bytes) -> Sequence[tuple[bytes, TrustContext]]:
        ns = self.snapshot.namespace_for_kid(kid)
        if ns is None:
            return []
        return [(s.der, s.trust) for s in ns.code_signers.get(kid, ())]

    def issuer_signers(self, issuer: str, kid: bytes) -> Sequence[tuple[bytes, TrustContext]]:
        ns = self.snapshot.namespace_for_issuer(issuer)
        if ns is None:
            return []
        ders = [d for d in getattr(ns, "issuer_signers", {}).get(issuer, ()) if kid_for(d) == kid]
        return [(d, ns.trust_for(issuer)) for d in ders]

    def licence_status(self, identifier: str, status_index: int, now: dt.datetime) -> StatusAnswer:
        from ..federation.snapshot import issuer_of

        issuer = issuer_of(identifier)
        ns = self.snapshot.namespace_for_issuer(issuer)
        if issuer is None or ns is None:
            return StatusAnswer(
                None, problem=(TRY_LATER, f"no trust anchor here vouches for the issuer of {identifier}")
            )
        if ns.stale(now):
            return StatusAnswer(
                None, problem=(TRUST_LIST_STALE, f"the trust list of {ns.label} is stale; run `trustsvc trust refresh`")
            )
        if self.live is not None and ns.kind == "local":
            return StatusAnswer(licence_status(self.live, identifier, now=now))
        return StatusAnswer(ns.licence_status(identifier, status_index, now), ns.status_list_summary(issuer, now))

    def freshness(self, now: dt.datetime) -> dict[str, Any]:
        return dict(self.snapshot.freshness(now))

    def stale(self, now: dt.datetime) -> bool:
        return bool(self.snapshot.stale(now))


def verify_holder_in_snapshot(snapshot: Any, text: Any, *, now: dt.datetime, online: Any = None) -> VerificationReport:
    """Verify a presentation or holder code with ``snapshot``.

    :param online: the region verifier's online extras (``db``, ``actor``, ``purpose``): live
        status of this region's licences, a presentation's single use and the verifier's record.
        None: offline (held status lists only).
    """
    db = getattr(online, "db", None)
    use = (
        OnlineUse(db, actor=getattr(online, "actor", None), purpose=getattr(online, "purpose", None))
        if db is not None
        else None
    )
    return verify_holder_text(text, trust=SnapshotHolderTrust(snapshot, live=db), now=now, online=use)
