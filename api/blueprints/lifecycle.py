"""Certificate lifecycle over HTTP (admin): list, revoke, renew, and re-key a department after a
key compromise. Each change is audited; the CRL, OCSP and trust list follow at once
(:mod:`trustsvc.certificates`)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from trustsvc.apikeys import Role
from trustsvc.certificates import (
    certificate_view,
    list_certificates,
    rekey_department,
    renew_certificate,
    revoke_certificate,
)
from trustsvc.errors import InvalidInputError

from ..auth import current_principal, require_role
from ..openapi_parts import AUTH, SIGNER_REFUSALS
from ..openapi_parts import error as _error
from ..openapi_parts import json_body as _json_body
from ..request import json_object, service, string_field
from .seals import _time

bp = Blueprint("lifecycle", __name__)


def _flag(data: dict[str, Any], name: str, default: bool) -> bool:
    value = data.get(name, default)
    if not isinstance(value, bool):
        raise InvalidInputError(f"{name} must be true or false", code="invalid_field", field=name)
    return value


@bp.get("/certificates")
@require_role(Role.ADMIN)
def list_view() -> Response:
    """Query: ``department`` (USCC), ``current=true`` (in use only), ``expiring_within_days=N``."""
    days = request.args.get("expiring_within_days")
    if days is not None and (not days.isdigit() or len(days) > 5):
        raise InvalidInputError(
            "expiring_within_days must be a whole number of days", code="invalid_field", field="expiring_within_days"
        )
    return jsonify(
        list_certificates(
            service(),
            department=request.args.get("department"),
            current_only=request.args.get("current", "false").lower() == "true",
            expiring_within_days=int(days) if days is not None else None,
        )
    )


@bp.get("/certificates/<ident>")
@require_role(Role.ADMIN)
def show_view(ident: str) -> Response:
    """``ident``: the serial (hex) or SHA-256 of the certificate."""
    return jsonify(certificate_view(service().db, ident))


@bp.post("/certificates/<ident>/revoke")
@require_role(Role.ADMIN)
def revoke_view(ident: str) -> Response:
    """Body ``{"reason": "keyCompromise" | RFC 5280 name, "compromised_at": ISO 8601 (compromise only)}``."""
    data = json_object()
    reason = string_field(data, "reason", max_len=40)
    assert reason is not None
    return jsonify(
        revoke_certificate(
            service(), ident, reason, actor=current_principal().actor, compromised_at=_time(data, "compromised_at")
        )
    )


@bp.post("/certificates/<ident>/renew")
@require_role(Role.ADMIN)
def renew_view(ident: str) -> tuple[Response, int]:
    """Body ``{"new_key": false}``: a new certificate over the same key (true: a new key)."""
    data = json_object()
    return jsonify(
        renew_certificate(service(), ident, new_key=_flag(data, "new_key", False), actor=current_principal().actor)
    ), 201


@bp.post("/departments/<uscc>/rekey")
@require_role(Role.ADMIN)
def rekey_view(uscc: str) -> Response:
    """Body ``{"compromised_at": ISO 8601, "maker_compromised": false, "reissue": true}``."""
    data = json_object()
    compromised_at = _time(data, "compromised_at")
    if compromised_at is None:
        raise InvalidInputError(
            "compromised_at is required: since when the key is not trusted",
            code="missing_field",
            field="compromised_at",
        )
    return jsonify(
        rekey_department(
            service(),
            uscc,
            compromised_at=compromised_at,
            actor=current_principal().actor,
            maker_compromised=_flag(data, "maker_compromised", False),
            reissue=_flag(data, "reissue", True),
        )
    )


def openapi_paths() -> dict[str, Any]:
    """The certificate and seal lifecycle operations, for the OpenAPI document."""
    auth = AUTH
    ident = {
        "name": "ident",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": "the certificate's serial (hex) or SHA-256",
    }
    esid = {"name": "esid", "in": "path", "required": True, "schema": {"type": "string"}}
    uscc = {"name": "uscc", "in": "path", "required": True, "schema": {"type": "string"}}
    time = {"type": "string", "format": "date-time"}
    seal = {
        "description": "the seal with its status history",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
    refusals = {
        "401": _error("no or bad key"),
        "403": _error("role or department"),
        "404": _error("no such seal"),
        "409": _error("not from the seal's current status (invalid_seal_transition)"),
        "422": _error("invalid input"),
    }

    def seal_op(summary: str, props: dict[str, Any], required: list[str]) -> dict[str, Any]:
        return {
            "post": {
                "summary": summary,
                "security": auth,
                "parameters": [esid],
                "requestBody": _json_body(props, required),
                "responses": {"200": seal, **refusals},
            }
        }

    reason = {"type": "string", "maxLength": 500}
    return {
        "/api/v1/certificates": {
            "get": {
                "summary": "Certificates this region issued, with status and whether each may sign now (admin)",
                "security": auth,
                "parameters": [
                    {"name": "department", "in": "query", "schema": {"type": "string"}},
                    {"name": "current", "in": "query", "schema": {"type": "boolean"}},
                    {"name": "expiring_within_days", "in": "query", "schema": {"type": "integer"}},
                ],
                "responses": {"200": {"description": "certificates"}, "403": _error("not admin")},
            }
        },
        "/api/v1/certificates/{ident}": {
            "get": {
                "summary": "One certificate (admin)",
                "security": auth,
                "parameters": [ident],
                "responses": {"200": {"description": "the certificate"}, "404": _error("no such certificate")},
            }
        },
        "/api/v1/certificates/{ident}/revoke": {
            "post": {
                "summary": "Revoke a certificate with an RFC 5280 reason; the CRL, OCSP, the trust list and the seals "
                "bound to it follow (admin)",
                "security": auth,
                "parameters": [ident],
                "requestBody": _json_body({"reason": {"type": "string"}, "compromised_at": time}, ["reason"]),
                "responses": {
                    "200": {"description": "the revoked certificate, seals revoked, CRL and trust list"},
                    "404": _error("no such certificate"),
                    "409": _error("revoked already"),
                    "422": _error("unknown reason, the root, or a past time without a compromise"),
                },
            }
        },
        "/api/v1/certificates/{ident}/renew": {
            "post": {
                "summary": "Renew a department's or service's certificate, same or new key (admin)",
                "security": auth,
                "parameters": [ident],
                "requestBody": _json_body({"new_key": {"type": "boolean", "default": False}}),
                "responses": {
                    "201": {"description": "the new and the replaced certificate, seals re-made"},
                    "404": _error("no such certificate"),
                    "409": _error(
                        f"revoked, replaced, or the trust-list signer (rotate it instead); or {SIGNER_REFUSALS}"
                    ),
                    "422": _error("not renewable here (a CA)"),
                },
            }
        },
        "/api/v1/departments/{uscc}/rekey": {
            "post": {
                "summary": "Re-key a department after its signer key was compromised from compromised_at (admin)",
                "security": auth,
                "parameters": [uscc],
                "requestBody": _json_body(
                    {
                        "compromised_at": time,
                        "maker_compromised": {"type": "boolean"},
                        "reissue": {"type": "boolean", "default": True},
                    },
                    ["compromised_at"],
                ),
                "responses": {
                    "200": {"description": "revoked and new certificates, seals re-made, licences re-issued"},
                    "404": _error("no such department"),
                    "409": _error(f"its CA may not sign: {SIGNER_REFUSALS}"),
                    "422": _error("invalid time"),
                },
            }
        },
        "/api/v1/seals/{esid}/suspend": seal_op(
            "挂失: suspend a seal from now (admin, seal manager)", {"reason": reason}, ["reason"]
        ),
        "/api/v1/seals/{esid}/reinstate": seal_op(
            "Reinstate a suspended seal from now (admin, seal manager)", {"reason": reason}, []
        ),
        "/api/v1/seals/{esid}/revoke": seal_op(
            "注销: revoke a seal, from now or since effective_at (admin, seal manager)",
            {"reason": reason, "effective_at": time},
            ["reason"],
        ),
        "/api/v1/departments/{uscc}/default-seal": {
            "post": {
                "summary": "Choose the seal the department's licences are sealed with (admin, seal manager)",
                "security": auth,
                "parameters": [uscc],
                "requestBody": _json_body({"esid": {"type": "string"}}, ["esid"]),
                "responses": {"200": seal, **refusals},
            }
        },
    }
