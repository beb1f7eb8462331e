"""Web pages (Jinja templates in ``templates/``)."""

from __future__ import annotations

from flask import Blueprint, render_template

from trustsvc import pki

from ..request import service

bp = Blueprint("pages", __name__)


@bp.get("/")
def index() -> str:
    svc = service()
    with svc.db.reader() as session:
        region = pki.get_region(session)
        cas = pki.list_cas(session)
        return render_template("index.html", region=region, cas=cas)
