"""The public minimal view of a licence, ``/licences/<identifier>`` (no login): what a service
code or a printed identifier leads to. The holder is masked (trustsvc.licences.masking)."""

from __future__ import annotations

from flask import Blueprint, Response, make_response, render_template
from werkzeug.exceptions import HTTPException

from hsm.errors import TrustSvcError
from trustsvc.licences.public import public_licence_view

from ..html import domain_error_page, http_error_page, page_headers
from ..request import service

bp = Blueprint("licence_pages", __name__)

STATUS_TEXT = {
    "active": ("有效", "valid"),
    "suspended": ("已中止", "suspended"),
    "revoked": ("已注销", "revoked"),
    "superseded": ("已被新版本替代", "superseded"),
    "expired": ("已过期", "expired"),
}


@bp.get("/licences/<identifier>")
def public_licence(identifier: str) -> Response:
    view = public_licence_view(service(), identifier)
    resp = make_response(
        render_template(
            "licence_public.html", view=view, status_text=STATUS_TEXT.get(view.status, (view.status, view.status))
        )
    )
    resp.headers["X-Robots-Tag"] = "noindex"
    return page_headers(resp, private=False)


@bp.errorhandler(TrustSvcError)
def _domain_error(exc: TrustSvcError) -> Response:
    # A malformed identifier is a 400 here (422 in the JSON API): the page has no body to be invalid.
    resp = domain_error_page(exc)
    if resp.status_code == 422:
        resp.status_code = 400
    return resp


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    return http_error_page(exc)
