"""Public status answers relying parties fetch without a key: each issuer's signed status list
and the region's OCSP responder (RFC 6960, POST and GET forms)."""

from __future__ import annotations

import base64
import binascii

from flask import Blueprint, Response, request

from trustsvc.ocsp import OCSP_RESPONSE_MEDIA_TYPE, respond_ocsp
from trustsvc.status_lists import STATUS_LIST_MEDIA_TYPE, current_status_list

from ..request import service
from ..signed_lists import signed_list_response
from ..verification_counts import count_status_list_fetch

bp = Blueprint("status", __name__)

_MAX_OCSP_REQUEST = 64 * 1024


@bp.get("/status/<issuer>")
def status_list(issuer: str) -> Response:
    """The issuer's signed list (DER, ``application/cms``), or ``?format=json`` a decoded view."""
    signed = current_status_list(service(), issuer)
    count_status_list_fetch(signed.status_list.issuer_uscc)  # a peer region refreshing its copy
    return signed_list_response(
        der=signed.der,
        sha256=signed.sha256,
        media_type=STATUS_LIST_MEDIA_TYPE,
        filename=f"status-{signed.status_list.issuer_uscc}-{signed.sequence}.cms",
        max_age=signed.max_age(),
        issued_at=signed.status_list.issued_at,
        summary=signed.status_list.as_dict,
    )


def _ocsp_response(der: bytes, *, cacheable: bool) -> Response:
    resp = Response(der, mimetype=OCSP_RESPONSE_MEDIA_TYPE)
    if cacheable:
        resp.cache_control.public = True
        resp.cache_control.max_age = min(3600, service().config.status.ocsp_next_update)
    else:
        resp.cache_control.no_store = True
    return resp


@bp.post("/ocsp")
def ocsp_post() -> Response:
    """RFC 6960 A.1: an ``application/ocsp-request`` body; every answer, malformedRequest
    included, is a 200 ``application/ocsp-response`` as OCSP clients expect."""
    if request.content_length is not None and request.content_length > _MAX_OCSP_REQUEST:
        return _ocsp_response(respond_ocsp(service(), b""), cacheable=False)
    return _ocsp_response(respond_ocsp(service(), request.get_data(cache=False)), cacheable=False)


@bp.get("/ocsp/<path:encoded>", merge_slashes=False)  # base64 may hold "//"
def ocsp_get(encoded: str) -> Response:
    """RFC 6960 A.1 GET: the base64 (then URL-encoded) DER request as the last path segment(s)."""
    try:
        der = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        der = b""
    return _ocsp_response(respond_ocsp(service(), der), cacheable=True)
