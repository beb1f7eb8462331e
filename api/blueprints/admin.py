"""Administration over the API: departments and API keys (admin role), and ``whoami``."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from trustsvc import pki
from trustsvc.apikeys import Role, end_api_key, new_api_key
from trustsvc.errors import InvalidInputError

from ..auth import current_principal, require_role
from ..request import json_object, service, string_field

bp = Blueprint("admin", __name__)


@bp.get("/whoami")
def whoami() -> Response:
    p = current_principal()
    return jsonify(
        {
            "key_id": p.key_id,
            "role": p.role.value,
            "department": p.department_uscc,
            "licence_types": list(p.licence_types),
        }
    )


@bp.get("/departments")
@require_role(Role.ISSUER, Role.VERIFIER, Role.PEER, Role.WALLET, Role.SEAL_MANAGER)
def list_departments() -> Response:
    rows = pki.read_departments(service().db)
    return jsonify([{"uscc": d.uscc, "name": d.name, "links": {"ca": f"/api/v1/ca/{d.uscc}"}} for d in rows])


@bp.post("/departments")
@require_role(Role.ADMIN)
def add_department() -> tuple[Response, int]:
    data = json_object()
    uscc = string_field(data, "uscc", max_len=18)
    name = string_field(data, "name", max_len=200)
    assert uscc is not None and name is not None
    result = pki.add_department(service(), uscc, name, actor=current_principal().actor)
    return jsonify(
        {"uscc": result.uscc, "name": result.name, "created": result.created, "certificates": result.certificates}
    ), 201 if result.created else 200


@bp.post("/apikeys")
@require_role(Role.ADMIN)
def create_key() -> tuple[Response, int]:
    data = json_object()
    role = string_field(data, "role", max_len=16)
    department = string_field(data, "department", required=False, max_len=18)
    label = string_field(data, "label", required=False, max_len=200) or ""
    types = data.get("licence_types", [])
    if not isinstance(types, list) or not all(isinstance(t, str) and t for t in types):
        raise InvalidInputError(
            "licence_types must be a list of type codes", code="invalid_field", field="licence_types"
        )
    created = new_api_key(
        service().db,
        role=role or "",
        actor=current_principal().actor,
        department_uscc=department,
        licence_types=types,
        label=label,
    )
    p = created.principal
    return jsonify(
        {
            "key_id": created.key_id,
            "api_key": created.token,
            "role": p.role.value,
            "department": p.department_uscc,
            "licence_types": list(p.licence_types),
        }
    ), 201


@bp.delete("/apikeys/<key_id>")
@require_role(Role.ADMIN)
def revoke_key(key_id: str) -> tuple[str, int]:
    end_api_key(service().db, key_id, actor=current_principal().actor)
    return "", 204
