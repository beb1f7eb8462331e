"""Seals over HTTP: make, list, suspend, reinstate, revoke and choose the default (admin or seal
manager), fetch (anyone), apply to a document (issuer of the department, admin)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Any

from flask import Blueprint, Response, jsonify, request

from trustsvc.apikeys import Role
from trustsvc.errors import InvalidInputError, MalformedRequestError, PermissionDeniedError
from trustsvc.seal_lifecycle import list_seals, reinstate_seal, revoke_seal, set_default_seal, show_seal, suspend_seal
from trustsvc.sealing import SealRequest, apply_seal, make_department_seal, read_seal
from trustsvc.times import iso_utc

from ..auth import current_principal, require_role
from ..request import json_object, read_upload, service, string_field
from ..shapes import seal_json

bp = Blueprint("seals", __name__)


def _time(data: dict[str, Any], name: str) -> dt.datetime | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInputError(f"{name} must be an ISO 8601 string", code="invalid_time", field=name)
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        # in UTC at once: a time at the edge of the calendar (0001-01-01T00:00+14:00) fails here, not later
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
    except (ValueError, OverflowError) as exc:
        raise InvalidInputError(f"{name} must be an ISO 8601 time", code="invalid_time", field=name) from exc


def _int(data: dict[str, Any], name: str, default: int) -> int:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"{name} must be an integer", code="invalid_field", field=name)
    return value


def _seal_scope() -> str | None:
    """The department a seal manager key is scoped to (None: every department, or admin)."""
    principal = current_principal()
    return principal.department_uscc if principal.role is Role.SEAL_MANAGER else None


@bp.post("/seals")
@require_role(Role.SEAL_MANAGER)
def make_seal() -> tuple[Response, int]:
    """Making a seal is seal management (admin or seal manager), never a side effect of an
    issuer key: the department's default seal is chosen, not whichever is newest."""
    principal = current_principal()
    data = json_object()
    scope = _seal_scope()
    department = string_field(data, "department", required=scope is None, max_len=18)
    if scope is not None:
        if department is not None and department.upper() != scope:
            raise PermissionDeniedError(
                "this seal manager key manages only the seals of its own department", code="other_department"
            )
        department = scope
    picture = None
    if data.get("picture") is not None:
        if not isinstance(data["picture"], str):
            raise InvalidInputError("picture must be base64 image data", code="invalid_picture", field="picture")
        try:
            picture = base64.b64decode(data["picture"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidInputError("picture is not valid base64", code="invalid_picture", field="picture") from exc
    make_default = data.get("default", False)
    if not isinstance(make_default, bool):
        raise InvalidInputError("default must be true or false", code="invalid_field", field="default")
    cert_list_type = _int(data, "cert_list_type", 1)
    center = string_field(data, "center_text", required=False, max_len=40) or ""
    name = string_field(data, "name", max_len=100)
    assert name is not None and department is not None
    row = make_department_seal(
        service(),
        SealRequest(
            department_uscc=department,
            name=name,
            seal_type=_int(data, "type", 1),
            valid_from=_time(data, "valid_from"),
            valid_until=_time(data, "valid_until"),
            cert_list_type=cert_list_type,
            picture=picture,
            center_text=center,
            make_default=make_default,
        ),
        actor=principal.actor,
    )
    return jsonify(seal_json(show_seal(service(), row.esid))), 201


@bp.get("/seals")
@require_role(Role.SEAL_MANAGER, Role.ISSUER)
def list_seals_view() -> Response:
    """Seals with their status and history; an issuer or scoped seal manager sees its department's."""
    principal = current_principal()
    department = request.args.get("department")
    own = principal.department_uscc if principal.role in (Role.ISSUER, Role.SEAL_MANAGER) else None
    if own is not None:
        if department is not None and department.upper() != own:
            raise PermissionDeniedError("this key sees only the seals of its own department", code="other_department")
        department = own
    return jsonify(
        [seal_json(x) for x in list_seals(service(), department=department, status=request.args.get("status"))]
    )


def _reason_body() -> tuple[str | None, dt.datetime | None]:
    data = json_object()
    reason = data.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise InvalidInputError("reason must be a string", code="invalid_reason", field="reason")
    return reason, _time(data, "effective_at")


def _change_status(esid: str, action: str) -> Response:
    principal = current_principal()
    reason, effective_at = _reason_body()
    kwargs: dict[str, Any] = {"reason": reason, "actor": principal.actor, "department_uscc": _seal_scope()}
    if action == "revoke":
        return jsonify(seal_json(revoke_seal(service(), esid, effective_at=effective_at, **kwargs)))
    if effective_at is not None:
        raise InvalidInputError(
            f"a seal is {action}d from now; effective_at is for revoke only", code="invalid_field", field="effective_at"
        )
    if action == "suspend":
        return jsonify(seal_json(suspend_seal(service(), esid, **kwargs)))
    return jsonify(seal_json(reinstate_seal(service(), esid, **kwargs)))


@bp.post("/seals/<esid>/suspend")
@require_role(Role.SEAL_MANAGER)
def suspend_seal_view(esid: str) -> Response:
    """挂失 ``{"reason"}``: no signature is made with it from now on."""
    return _change_status(esid, "suspend")


@bp.post("/seals/<esid>/reinstate")
@require_role(Role.SEAL_MANAGER)
def reinstate_seal_view(esid: str) -> Response:
    """``{"reason"}`` (optional): usable again from now on."""
    return _change_status(esid, "reinstate")


@bp.post("/seals/<esid>/revoke")
@require_role(Role.SEAL_MANAGER)
def revoke_seal_view(esid: str) -> Response:
    """注销 ``{"reason", "effective_at"}`` (``effective_at``: since when it was lost; default now)."""
    return _change_status(esid, "revoke")


@bp.post("/departments/<uscc>/default-seal")
@require_role(Role.SEAL_MANAGER)
def choose_default_seal(uscc: str) -> Response:
    """Body ``{"esid": "..."}``: the seal the department's licences are sealed with from now on."""
    principal = current_principal()
    esid = string_field(json_object(), "esid", max_len=32)
    assert esid is not None
    return jsonify(
        seal_json(set_default_seal(service(), uscc, esid, actor=principal.actor, department_uscc=_seal_scope()))
    )


@bp.get("/seals/<esid>")
def get_seal_view(esid: str) -> Response:
    row = read_seal(service().db, esid)
    fmt = request.args.get("format", "json")
    if fmt == "esl":
        return Response(
            row.der,
            mimetype="application/octet-stream",
            headers={"Content-Disposition": f'attachment; filename="{esid}.esl"'},
        )
    if fmt != "json":
        raise InvalidInputError("format must be json or esl", code="invalid_format", field="format")
    return jsonify(seal_json(show_seal(service(), esid)))


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
    applied = apply_seal(
        service(),
        esid,
        data,
        actor=principal.actor,
        property_info=request.args.get("property_info", "/"),
        timestamp=timestamp,
        department_uscc=principal.department_uscc if principal.role is Role.ISSUER else None,
    )
    if request.args.get("format") == "der":
        return Response(
            applied.signature,
            mimetype="application/octet-stream",
            headers={"Content-Disposition": f'attachment; filename="{esid}-signature.dat"'},
        )
    return jsonify(
        {
            "esid": applied.esid,
            "signature": base64.b64encode(applied.signature).decode(),
            "signing_time": iso_utc(applied.signing_time),
            "data_sm3": applied.data_sm3,
            "timestamped": applied.timestamped,
        }
    )
