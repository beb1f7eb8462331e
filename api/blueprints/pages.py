"""Web pages (Jinja templates in ``templates/``): the home page, the developers' page, and what
every page's header and footer need (the region's name and code)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, make_response, render_template

from trustsvc import pki

from ..html import page_headers
from ..request import service

bp = Blueprint("pages", __name__)


@bp.app_context_processor
def _site() -> dict[str, Any]:
    """The header's and footer's region, from the configuration (no query per page)."""
    region = service().config.region
    return {"site": {"region_name": region.name if region else "", "region_code": region.code if region else "-"}}


@bp.get("/")
def index() -> Response:
    resp = make_response(render_template("index.html"))
    return page_headers(resp, private=False)


@bp.get("/developers")
def developers() -> Response:
    svc = service()
    region, cas = pki.read_region(svc.db), pki.read_cas(svc.db)
    resp = make_response(render_template("developers.html", region=region, cas=cas))
    return page_headers(resp, private=False)
