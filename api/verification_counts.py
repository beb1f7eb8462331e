"""The process's :class:`~trustsvc.verification_counter.VerificationCounter` (``trustsvc serve``
starts its flusher; otherwise it is made on first use and flushed by the dashboard), and the
two things the views count: a verification here, and a peer region's status list fetch."""

from __future__ import annotations

from typing import Any

from flask import current_app, request

from trustsvc.dashboard_counts import Channel
from trustsvc.peers import REGION_HEADER
from trustsvc.verification_counter import VerificationCounter

from .request import service

__all__ = ["EXTENSION", "verification_counter", "count_verification", "count_status_list_fetch"]

EXTENSION = "trustsvc.verification_counter"


def verification_counter() -> VerificationCounter:
    counter = current_app.extensions.get(EXTENSION)
    if counter is None:
        counter = current_app.extensions.setdefault(EXTENSION, VerificationCounter(service().db))
    return counter


def count_verification(report_object: Any) -> None:
    """Count a verification of a licence whose signature checked out (the report names its
    issuer); forgeries and unreadable input name none and are not counted."""
    if isinstance(report_object, dict) and report_object.get("licence"):
        issuer = report_object.get("issuer")
        if isinstance(issuer, str):
            verification_counter().add(issuer)


def count_status_list_fetch(issuer_uscc: str) -> None:
    """Count a fetch of ``issuer_uscc``'s status list by the peer region its header names (not
    this region's own code; no header: not a peer, not counted)."""
    asking = request.headers.get(REGION_HEADER, "").strip()
    region = service().config.region
    if asking and (region is None or asking != region.code):
        verification_counter().add(issuer_uscc, verifier=asking, channel=Channel.STATUS_LIST)
