"""Service codes over HTTP: a licence's static code (text, PNG, SVG) and dynamic codes."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from trustsvc.apikeys import Role
from trustsvc.codes.render import code_png, code_svg
from trustsvc.codes.service import make_dynamic_code, static_code
from trustsvc.errors import InvalidInputError, MalformedRequestError

from ..auth import current_principal, require_role
from ..request import service

bp = Blueprint("codes", __name__)

_FORMATS = ("text", "png", "svg")


@bp.get("/licences/<identifier>/code")
@require_role(Role.ISSUER)
def static(identifier: str) -> Response:
    fmt = request.args.get("format", "text")
    if fmt not in _FORMATS:
        raise InvalidInputError(f"format must be one of {', '.join(_FORMATS)}", code="invalid_format", field="format")
    code = static_code(service(), identifier, principal_or_actor=current_principal())
    if fmt == "png":
        resp = Response(code_png(code.text), mimetype="image/png")
    elif fmt == "svg":
        resp = Response(code_svg(code.text), mimetype="image/svg+xml")
    else:
        resp = Response(code.text, mimetype="text/plain")
    resp.headers["Cache-Control"] = "private, max-age=300"
    return resp


@bp.post("/licences/<identifier>/codes")
@require_role(Role.ISSUER)
def dynamic(identifier: str) -> tuple[Response, int]:
    ttl = None
    if request.get_data(cache=True):
        if not request.is_json:
            raise MalformedRequestError('send no body, or JSON {"ttl": seconds}')
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or set(body) - {"ttl"}:
            raise MalformedRequestError('the body is {"ttl": seconds} (optional)')
        ttl = body.get("ttl")
    code = make_dynamic_code(service(), identifier, principal_or_actor=current_principal(), ttl=ttl)
    resp = jsonify(code.as_dict())
    resp.headers["Cache-Control"] = "no-store"
    return resp, 201
