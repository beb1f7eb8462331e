"""``POST /api/v1/verify``: a multipart ``file`` (plus optional ``original``) or ``image`` (a
photo of a service code's QR), a raw body, or JSON ``{"code": …, "purpose": …}`` → the report
JSON (README, "Verification reports and policy"), 200 whatever the indication.

One region verifier judges everything (trustsvc.verifier) against the process's trust snapshot,
each object in the namespace of its issuer (this region, or a peer imported by pin). Service
codes are verified online: with an API key the verification is audited with its ``purpose`` and
uses a dynamic code up; without one nothing is written."""

from __future__ import annotations

import json

from flask import Blueprint, Response, current_app, request

from trustsvc.codes.render import read_code_from_image
from trustsvc.errors import InvalidInputError, MalformedRequestError
from trustsvc.verifier import OnlineCodes
from trustsvc.verifier import verify as verify_in_region
from trustsvc.verify import is_picture

from ..auth import current_principal
from ..request import json_body, read_upload, service, string_field
from ..trust_snapshot import current_snapshot
from ..verification_counts import count_verification

bp = Blueprint("verify", __name__)

_FORM_TYPES = frozenset({"multipart/form-data", "application/x-www-form-urlencoded"})


@bp.post("/verify")
def verify() -> Response:
    original = None
    purpose = None
    if request.mimetype in _FORM_TYPES and request.files:  # only these are parsed as forms
        original = read_upload("original")
        image = read_upload("image")
        file_data = read_upload("file")
        if image is not None:
            file_data = read_code_from_image(image).encode()
        purpose = string_field(dict(request.form), "purpose", required=False, max_len=200)
        if file_data is None:
            raise MalformedRequestError("multipart requests carry the object as 'file' (or a QR photo as 'image')")
        data = file_data
    elif request.is_json:
        body = json_body()  # broken JSON: 400 malformed_json saying where
        if not isinstance(body, dict) or not isinstance(body.get("code"), str):
            raise MalformedRequestError('JSON requests are {"code": "TS1:...", "purpose": "..."}')
        purpose = string_field(body, "purpose", required=False, max_len=200)
        data = body["code"].encode()
    else:
        data = request.get_data(cache=False)
    if not data:
        raise MalformedRequestError("nothing to verify: send a file, a raw body or a code")
    if purpose is None:
        purpose = string_field(dict(request.args), "purpose", required=False, max_len=200)
    actor = None
    if "Authorization" in request.headers:
        actor = current_principal().actor
        if purpose is None and (data.lstrip()[:4].upper() == b"TS1:" or is_picture(data)):  # a QR photo is a code
            raise InvalidInputError(
                "a keyed code verification states its purpose", code="missing_field", field="purpose"
            )
    report = verify_in_region(
        current_snapshot(), data, original=original, online=OnlineCodes(service().db, actor=actor, purpose=purpose)
    )
    current_app.logger.debug("verify %s -> %s", report.object.get("kind"), report.indication.value)
    # in memory; flushed to the dashboard's counts every few seconds
    count_verification(
        {"object": report.object, "indication": report.indication.value, "sub_indication": report.sub_indication}
    )
    # The report in its own order (indication first), compact: sorting the keys of a report of
    # 30 checks was about a tenth of an anonymous code verification's CPU.
    body = json.dumps(report.as_dict(), ensure_ascii=False, separators=(",", ":"))
    return current_app.response_class(body, mimetype="application/json")
