"""The process's :class:`~trustsvc.verification_counter.VerificationCounter` (``trustsvc serve``
starts its flusher; otherwise it is made on first use and flushed by the dashboard), and what
the views count: a verification here, a peer region's status list fetch, and the licences a
peer region redeems here by holder code."""

from __future__ import annotations

from typing import Any

from flask import current_app, request

from hsm.errors import TrustSvcError
from trustsvc.apikeys import Principal, Role, key_label
from trustsvc.dashboard_counts import Channel
from trustsvc.federation.peers import REGION_HEADER
from trustsvc.holder.consent import PEER_REGION
from trustsvc.licences.identifier import parse_identifier
from trustsvc.verification_counter import VerificationCounter

from .request import service

__all__ = [
    "EXTENSION",
    "verification_counter",
    "count_verification",
    "count_status_list_fetch",
    "count_peer_redeem",
]

EXTENSION = "trustsvc.verification_counter"
_STATUS_ONLY = frozenset({"REVOKED", "EXPIRED"})


def verification_counter() -> VerificationCounter:
    counter = current_app.extensions.get(EXTENSION)
    if counter is None:
        counter = current_app.extensions.setdefault(EXTENSION, VerificationCounter(service().db))
    return counter


def count_verification(report: Any) -> None:
    """Count a verification here of an authentic licence: a code whose signature checked out
    (the report then names its issuer), or a licence file that passed or failed only on its
    status now (revoked, expired). Forgeries and unreadable input are not counted."""
    obj = report.get("object") if isinstance(report, dict) else None
    if not isinstance(obj, dict):
        return
    issuer = obj.get("issuer") if obj.get("licence") else None
    if issuer is None and isinstance(obj.get("identifier"), str) and _authentic(report):
        try:
            issuer = parse_identifier(obj["identifier"]).issuer_code
        except TrustSvcError:
            return
    if isinstance(issuer, str):
        verification_counter().add(issuer)


def _authentic(report: dict[str, Any]) -> bool:
    return report.get("indication") == "PASSED" or report.get("sub_indication") in _STATUS_ONLY


def count_status_list_fetch(issuer_uscc: str) -> None:
    """Count a fetch of ``issuer_uscc``'s status list by the peer region its header names (not
    this region's own code; no header: not a peer, not counted)."""
    asking = request.headers.get(REGION_HEADER, "").strip()
    region = service().config.region
    if asking and (region is None or asking != region.code):
        verification_counter().add(issuer_uscc, verifier=asking, channel=Channel.STATUS_LIST)


def count_peer_redeem(principal: Principal, licences: Any) -> None:
    """Count each licence a peer region redeemed here with its key (labelled ``region:<code>``
    by this region when it made the key: authenticated, unlike the fetch header)."""
    if principal.role is not Role.PEER or not isinstance(licences, list) or not licences:
        return
    label = key_label(service().db, principal.key_id)
    if not PEER_REGION.match(label):
        return
    region = label.split(":", 1)[1]
    for lic in licences:
        try:
            issuer = parse_identifier(lic["id"]).issuer_code
        except (TrustSvcError, KeyError, TypeError):
            continue
        verification_counter().add(issuer, verifier=region, channel=Channel.REDEEM)
