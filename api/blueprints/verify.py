"""``POST /api/v1/verify``: a multipart ``file`` (plus optional ``original``), a raw body, or
JSON ``{"code": …}`` → the report JSON of DESIGN §4, 200 whatever the indication."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from trustsvc.errors import MalformedRequestError
from trustsvc.local_trust import local_trust_context
from trustsvc.verify import verify_bytes

from ..request import read_upload, service

bp = Blueprint("verify", __name__)


@bp.post("/verify")
def verify() -> Response:
    original = None
    if request.files:
        original = read_upload("original")
        file_data = read_upload("file")
        if file_data is None:
            raise MalformedRequestError("multipart requests carry the object as 'file'")
        data = file_data
    elif request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("code"), str):
            raise MalformedRequestError('JSON requests are {"code": "TS1:..."}')
        data = body["code"].encode()
    else:
        data = request.get_data(cache=False)
    if not data:
        raise MalformedRequestError("nothing to verify: send a file, a raw body or a code")
    trust = local_trust_context(service().db)
    report = verify_bytes(data, trust=trust, original=original)
    current_app.logger.debug("verify %s -> %s", report.object.get("kind"), report.indication.value)
    return jsonify(report.as_dict())
