"""E-licences over HTTP: the type catalogue, issuance (idempotent), lookup and lifecycle."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select

from trustsvc.apikeys import Role
from trustsvc.errors import InvalidInputError
from trustsvc.licences.catalogue import catalogue_for
from trustsvc.licences.service import (
    get_licence,
    issue_licence_outcome,
    licence_json,
    reinstate_licence,
    request_from_json,
    revoke_licence,
    suspend_licence,
)
from trustsvc.storage.models import Region

from ..auth import current_principal, require_role
from ..request import json_object, service, string_field

bp = Blueprint("licences", __name__)


@bp.get("/licence-types")
def licence_types() -> Response:
    with service().db.reader() as session:
        region = session.execute(select(Region)).scalars().first()
    return jsonify([t.as_dict() for t in catalogue_for(region.code if region else "")])


@bp.post("/licences")
@require_role(Role.ISSUER)
def issue() -> tuple[Response, int]:
    principal = current_principal()
    data = json_object()
    department = None
    if "department" in data:
        department = string_field(data, "department", max_len=18)
        data = {k: v for k, v in data.items() if k != "department"}
    if principal.role is Role.ADMIN and department is None:
        raise InvalidInputError("an admin key must say which department issues (department)",
                                code="department_required", field="department")
    outcome = issue_licence_outcome(service(), request_from_json(data), principal_or_actor=principal,
                                    department_uscc=department,
                                    idempotency_key=request.headers.get("Idempotency-Key"))
    return jsonify(licence_json(outcome.record)), 200 if outcome.replayed else 201


@bp.get("/licences/<identifier>")
@require_role(Role.ISSUER, Role.VERIFIER)
def show(identifier: str) -> Response:
    return jsonify(licence_json(get_licence(service(), identifier, principal=current_principal())))


def _reason(required: bool) -> str | None:
    data = json_object() if (required or request.get_data(cache=True)) else {}
    return string_field(data, "reason", required=required, max_len=500)


@bp.post("/licences/<identifier>/revoke")
@require_role(Role.ISSUER)
def revoke(identifier: str) -> Response:
    row = revoke_licence(service(), identifier, principal_or_actor=current_principal(), reason=_reason(True) or "")
    return jsonify(licence_json(row))


@bp.post("/licences/<identifier>/suspend")
@require_role(Role.ISSUER)
def suspend(identifier: str) -> Response:
    row = suspend_licence(service(), identifier, principal_or_actor=current_principal(), reason=_reason(False))
    return jsonify(licence_json(row))


@bp.post("/licences/<identifier>/reinstate")
@require_role(Role.ISSUER)
def reinstate(identifier: str) -> Response:
    row = reinstate_licence(service(), identifier, principal_or_actor=current_principal(), reason=_reason(False))
    return jsonify(licence_json(row))
