"""Seals over HTTP: make (issuer/admin), fetch, apply to a document."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Any

from flask import Blueprint, Response, jsonify, request

from trustsvc.apikeys import Role
from trustsvc.errors import InvalidInputError, MalformedRequestError, PermissionDeniedError
from trustsvc.sealing import SealRequest, apply_seal, get_seal, make_department_seal
from trustsvc.storage import Department, SealRecord

from ..auth import current_principal, require_role
from ..request import json_object, read_upload, service, string_field

bp = Blueprint("seals", __name__)


def _time(data: dict[str, Any], name: str) -> dt.datetime | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInputError(f"{name} must be an ISO 8601 string", code="invalid_time", field=name)
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInputError(f"{name} must be an ISO 8601 time", code="invalid_time", field=name) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def _int(data: dict[str, Any], name: str, default: int) -> int:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"{name} must be an integer", code="invalid_field", field=name)
    return value


def _seal_json(row: SealRecord, uscc: str) -> dict[str, Any]:
    return {
        "esid": row.esid, "name": row.name, "type": row.seal_type, "department": uscc, "version": "v4",
        "status": row.status, "valid_from": row.valid_start.isoformat(), "valid_until": row.valid_end.isoformat(),
        "sha256": row.sha256,
        "links": {"self": f"/api/v1/seals/{row.esid}", "esl": f"/api/v1/seals/{row.esid}?format=esl",
                  "sign": f"/api/v1/seals/{row.esid}/sign"},
    }


@bp.post("/seals")
@require_role(Role.ISSUER)
def make_seal() -> tuple[Response, int]:
    principal = current_principal()
    data = json_object()
    department = string_field(data, "department", required=principal.role is Role.ADMIN, max_len=18)
    if principal.role is Role.ISSUER:
        if department is not None and department.upper() != principal.department_uscc:
            raise PermissionDeniedError("an issuer key makes seals only for its own department",
                                        code="other_department")
        department = principal.department_uscc
    picture = None
    if data.get("picture") is not None:
        if not isinstance(data["picture"], str):
            raise InvalidInputError("picture must be base64 image data", code="invalid_picture", field="picture")
        try:
            picture = base64.b64decode(data["picture"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidInputError("picture is not valid base64", code="invalid_picture", field="picture") from exc
    cert_list_type = _int(data, "cert_list_type", 1)
    center = string_field(data, "center_text", required=False, max_len=40) or ""
    name = string_field(data, "name", max_len=100)
    assert name is not None and department is not None
    row = make_department_seal(service(), SealRequest(
        department_uscc=department, name=name, seal_type=_int(data, "type", 1),
        valid_from=_time(data, "valid_from"), valid_until=_time(data, "valid_until"),
        cert_list_type=cert_list_type, picture=picture, center_text=center), actor=principal.actor)
    return jsonify(_seal_json(row, department.upper())), 201


@bp.get("/seals/<esid>")
def get_seal_view(esid: str) -> Response:
    with service().db.reader() as session:
        row = get_seal(session, esid)
        dept = session.get(Department, row.department_id)
        assert dept is not None
        uscc = dept.uscc
    fmt = request.args.get("format", "json")
    if fmt == "esl":
        return Response(row.der, mimetype="application/octet-stream",
                        headers={"Content-Disposition": f'attachment; filename="{esid}.esl"'})
    if fmt != "json":
        raise InvalidInputError("format must be json or esl", code="invalid_format", field="format")
    return jsonify(_seal_json(row, uscc))


@bp.post("/seals/<esid>/sign")
@require_role(Role.ISSUER)
def sign_with_seal(esid: str) -> Response:
    """Body: the document bytes (any content type) or multipart ``file``; query
    ``property_info`` and ``timestamp`` (default true); ``format=der`` returns the raw DER."""
    principal = current_principal()
    upload = read_upload("file")
    data = upload if upload is not None else request.get_data(cache=False)
    if not data:
        raise MalformedRequestError("send the document as the request body or a multipart 'file'")
    timestamp = request.args.get("timestamp", "true").lower() not in ("0", "false", "no")
    applied = apply_seal(service(), esid, data, actor=principal.actor,
                         property_info=request.args.get("property_info", "/"), timestamp=timestamp,
                         department_uscc=principal.department_uscc if principal.role is Role.ISSUER else None)
    if request.args.get("format") == "der":
        return Response(applied.signature, mimetype="application/octet-stream",
                        headers={"Content-Disposition": f'attachment; filename="{esid}-signature.dat"'})
    return jsonify({"esid": applied.esid, "signature": base64.b64encode(applied.signature).decode(),
                    "signing_time": applied.signing_time.isoformat(), "data_sm3": applied.data_sm3,
                    "timestamped": applied.timestamped})
