"""How a public signed list (an issuer's status list, the region's trust list) is served: the
DER as issued, or ``?format=json`` a readable view; ETag = SHA-256 of the DER, 304 on a matching
If-None-Match, and public caching until this service would make a newer list."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from flask import Response, jsonify, request

from trustsvc.errors import InvalidInputError

__all__ = ["signed_list_response"]


def signed_list_response(
    *,
    der: bytes,
    sha256: str,
    media_type: str,
    filename: str,
    max_age: int,
    issued_at: dt.datetime,
    summary: Callable[[], Mapping[str, Any]],
) -> Response:
    fmt = request.args.get("format", "der")
    if fmt not in ("der", "json"):
        raise InvalidInputError("format must be der or json", code="invalid_format", field="format")
    if fmt == "json":
        resp = jsonify({**summary(), "sha256": sha256})
        resp.set_etag(f"{sha256}.json")
    else:
        resp = Response(der, mimetype=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'})
        resp.set_etag(sha256)
    resp.cache_control.public = True
    resp.cache_control.max_age = max_age
    resp.last_modified = issued_at
    resp.make_conditional(request)  # 304 (empty body) when If-None-Match matches; in place
    return resp
