"""``POST /api/v1/tsa``: RFC 3161 over HTTP (application/timestamp-query → -reply) from the
region TSA. Bad requests get a granted=false TimeStampResp, as RFC 3161 says, not an HTTP error."""

from __future__ import annotations

from flask import Blueprint, Response, request

from trustsvc.errors import MalformedRequestError
from trustsvc.sealing import region_authority

from ..request import service

bp = Blueprint("tsa", __name__)


@bp.post("/tsa")
def timestamp() -> Response:
    if request.mimetype != "application/timestamp-query":
        raise MalformedRequestError("send an RFC 3161 request with Content-Type: application/timestamp-query")
    reply = region_authority(service()).respond(request.get_data(cache=False))
    return Response(reply, mimetype="application/timestamp-reply")
