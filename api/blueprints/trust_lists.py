"""Trust between regions over HTTP: this region's signed trust list (public) and the peers it
imported by pin (admin): ``GET /trust-list``, ``GET|POST /trust/peers``, ``POST /trust/refresh``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Blueprint, Response, jsonify

from trustsvc.apikeys import Role
from trustsvc.errors import InvalidInputError, RateLimitedError
from trustsvc.federation.peers import import_peer, list_peers, refresh_peers
from trustsvc.federation.trust_lists import TRUST_LIST_MEDIA_TYPE, current_trust_list

from ..auth import current_principal, require_role
from ..request import json_object, service, string_field
from ..signed_lists import signed_list_response

bp = Blueprint("trust_lists", __name__)

PEER_OPERATIONS = 2
"""Imports and refreshes (which wait on peers, up to ``[trust] peer_budget``) one process runs
at once: half of serve's threads per worker, so slow or hostile peers never hold every thread
and ``/healthz`` and the public pages keep answering."""
_peer_slots = threading.BoundedSemaphore(PEER_OPERATIONS)


@contextmanager
def _peer_slot() -> Iterator[None]:
    if not _peer_slots.acquire(blocking=False):
        raise RateLimitedError(
            f"{PEER_OPERATIONS} peer imports or refreshes are running in this process; try again shortly",
            retry_after=service().config.trust.fetch_timeout,
            code="peer_operations_busy",
        )
    try:
        yield
    finally:
        _peer_slots.release()


@bp.get("/trust-list")
def trust_list() -> Response:
    """The region's current signed list (DER ``application/cms``), or ``?format=json`` a
    readable summary."""
    signed = current_trust_list(service())
    return signed_list_response(
        der=signed.der,
        sha256=signed.sha256,
        media_type=TRUST_LIST_MEDIA_TYPE,
        filename=f"trust-list-{signed.trust_list.region_code}-{signed.sequence}.cms",
        max_age=signed.max_age(),
        issued_at=signed.trust_list.issued_at,
        summary=signed.trust_list.summary,
    )


@bp.get("/trust/peers")
@require_role(Role.ADMIN)
def peers() -> Response:
    return jsonify(list_peers(service()))


@bp.post("/trust/peers")
@require_role(Role.ADMIN)
def add_peer() -> tuple[Response, int]:
    """Import a peer: ``{"url", "pin"}``; 201 when new, 200 when it was held already. A refused
    list is 422 with the reason as the error code (``trust_list_pin_mismatch``,
    ``trust_list_issuer_is_local`` …); a peer too slow for the deadline 504 ``peer_fetch_timeout``."""
    data = json_object()
    url = string_field(data, "url", max_len=1000)
    pin = string_field(data, "pin", max_len=64)
    assert url is not None and pin is not None
    if not url.lower().startswith(("http://", "https://")):
        raise InvalidInputError("url must be an http(s) URL", code="invalid_source", field="url")
    with _peer_slot():
        outcome = import_peer(service(), url, pin, actor=current_principal().actor)
    held = [p for p in list_peers(service()) if p["region"]["code"] == outcome.region]
    return jsonify(
        {**outcome.as_dict(), "peer": held[0] if held else None}
    ), 201 if outcome.outcome == "imported" else 200


@bp.post("/trust/refresh")
@require_role(Role.ADMIN)
def refresh() -> Response:
    """Refresh every peer's list and its issuers' status lists now (what the background
    refresher does); each peer's outcome."""
    with _peer_slot():
        outcomes = refresh_peers(service())
    return jsonify([o.as_dict() for o in outcomes])
