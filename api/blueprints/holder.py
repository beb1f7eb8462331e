"""Holder codes over HTTP (一人一码 / 一企一码): the wallet API (``wallet`` keys: the holder
app's back end, which has authenticated the person or enterprise) and the verifiers' redeem.

Holders are named in queries by ``id_type`` and ``id``; every answer about a holder masks the
id except to the wallet acting for them and to a verifier redeeming with their consent.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from trustsvc.apikeys import Role
from trustsvc.errors import InvalidInputError, MalformedRequestError
from trustsvc.holder.common import HolderRef, holder_from_json
from trustsvc.holder.consent import (
    consent_request_from_json,
    give_consent,
    list_consents,
    list_uses,
    make_holder_code,
    redeem_holder_code,
    withdraw_consent,
)
from trustsvc.holder.presentation import holder_licences, make_presentation, presentation_request_from_json

from ..auth import current_principal, require_role
from ..openapi_parts import AUTH, SIGNER_REFUSALS, json_body
from ..openapi_parts import error as _err
from ..request import json_object, service
from ..shapes import redeemed_licence_json
from ..trust_snapshot import current_snapshot
from ..verification_counts import count_peer_redeem

bp = Blueprint("holder", __name__)


def _holder_from_query() -> HolderRef:
    return holder_from_json({"id_type": request.args.get("id_type"), "id": request.args.get("id")}, "holder")


def _no_store(resp: Response, status: int = 200) -> tuple[Response, int]:
    resp.headers["Cache-Control"] = "no-store"
    return resp, status


@bp.post("/holder/presentations")
@require_role(Role.WALLET)
def presentations() -> tuple[Response, int]:
    made = make_presentation(
        service(), presentation_request_from_json(json_object()), principal_or_actor=current_principal()
    )
    return _no_store(jsonify(made.as_dict()), 201)


@bp.get("/holder/licences")
@require_role(Role.WALLET)
def licences() -> tuple[Response, int]:
    items = holder_licences(service(), _holder_from_query(), principal_or_actor=current_principal())
    return _no_store(jsonify({"items": items}))


@bp.post("/holder/codes")
@require_role(Role.WALLET)
def holder_codes() -> tuple[Response, int]:
    body = json_object()
    if set(body) - {"holder", "ttl"}:
        raise MalformedRequestError('the body is {"holder": {"id_type", "id"}, "ttl": seconds (optional)}')
    code = make_holder_code(
        service(), holder_from_json(body.get("holder")), principal_or_actor=current_principal(), ttl=body.get("ttl")
    )
    return _no_store(jsonify(code.as_dict()), 201)


@bp.post("/holder/consents")
@require_role(Role.WALLET)
def consents_create() -> tuple[Response, int]:
    body = json_object()
    req = consent_request_from_json(body, holder_from_json(body.get("holder")))
    return _no_store(jsonify(give_consent(service(), req, principal_or_actor=current_principal())), 201)


@bp.get("/holder/consents")
@require_role(Role.WALLET)
def consents_list() -> tuple[Response, int]:
    items = list_consents(service(), _holder_from_query(), principal_or_actor=current_principal())
    return _no_store(jsonify({"items": items}))


@bp.delete("/holder/consents/<consent_id>")
@require_role(Role.WALLET)
def consents_withdraw(consent_id: str) -> Response:
    withdraw_consent(service(), consent_id, principal_or_actor=current_principal())
    return Response(status=204)


@bp.get("/holder/uses")
@require_role(Role.WALLET)
def uses() -> tuple[Response, int]:
    items = list_uses(service(), _holder_from_query(), principal_or_actor=current_principal())
    return _no_store(jsonify({"items": items}))


@bp.post("/holder-codes/redeem")
@require_role(Role.VERIFIER, Role.PEER)
def redeem() -> tuple[Response, int]:
    body = json_object()
    if set(body) - {"code", "purpose", "licences", "on_behalf_of"} or not isinstance(body.get("code"), str):
        raise MalformedRequestError(
            'the body is {"code": "TS1:...", "purpose": "...", "licences": [id, ...] (optional)}'
        )
    licences = body.get("licences")
    if licences is not None and not isinstance(licences, list):
        raise InvalidInputError("licences must list licence identifiers", code="invalid_field", field="licences")
    out = redeem_holder_code(
        service(),
        body["code"],
        purpose=body.get("purpose"),
        principal_or_actor=current_principal(),
        render_licence=redeemed_licence_json,
        licences=licences,
        on_behalf_of=body.get("on_behalf_of"),
        snapshot=current_snapshot(),
    )
    count_peer_redeem(current_principal(), out.get("licences"))  # for the dashboard: a peer region's online use
    return _no_store(jsonify(out))


# -- OpenAPI ------------------------------------------------------------------------------------

_AUTH = AUTH
_HOLDER_QUERY = [
    {"name": "id_type", "in": "query", "required": True, "schema": {"type": "string", "enum": ["111", "001"]}},
    {
        "name": "id",
        "in": "query",
        "required": True,
        "schema": {"type": "string"},
        "description": "公民身份号码 (111) or USCC (001)",
    },
]
_HOLDER = {
    "type": "object",
    "required": ["id_type", "id"],
    "properties": {"id_type": {"type": "string", "enum": ["111", "001"]}, "id": {"type": "string"}},
}
_VERIFIER = {"type": ["string", "null"], "pattern": "^(apikey:[0-9a-f]{12}|region:[1-8][0-9]{5})$"}


def _json(schema: dict[str, object]) -> dict[str, object]:
    return json_body(schema=schema)


def openapi_paths() -> dict[str, Any]:
    """This blueprint's operations, for the OpenAPI document."""
    items = {"description": "the holder's items", "content": {"application/json": {"schema": {"type": "object"}}}}
    return {
        "/api/v1/holder/presentations": {
            "post": {
                "summary": "A presentation (TS1:, typ presentation) of the holder's licences with only the chosen "
                "fields, signed by the region's code signer, single use online",
                "security": _AUTH,
                "requestBody": _json(
                    {
                        "type": "object",
                        "required": ["holder", "licences", "purpose"],
                        "properties": {
                            "holder": _HOLDER,
                            "purpose": {"type": "string", "maxLength": 200},
                            "verifier": _VERIFIER,
                            "ttl": {"type": "integer", "minimum": 30, "maximum": 900},
                            "licences": {
                                "type": "array",
                                "minItems": 1,
                                "maxItems": 10,
                                "items": {
                                    "type": "object",
                                    "required": ["id"],
                                    "properties": {
                                        "id": {"type": "string"},
                                        "fields": {"type": "array", "items": {"type": "string"}},
                                    },
                                },
                            },
                        },
                    }
                ),
                "responses": {
                    "201": {"description": "{code, expires_at, licences}"},
                    "403": _err("not a wallet key"),
                    "404": _err("licence_not_found (not the holder's)"),
                    "409": _err(f"licence_not_active; or, signing its MSO or the code, {SIGNER_REFUSALS}"),
                    "422": _err("unknown_field, invalid_ttl, presentation_too_large"),
                },
            }
        },
        "/api/v1/holder/licences": {
            "get": {
                "summary": "The holder's licences, each with its MSO and every field's salt and value (for the wallet)",
                "security": _AUTH,
                "parameters": _HOLDER_QUERY,
                "responses": {"200": items, "403": _err("not a wallet key"), "422": _err("invalid holder")},
            }
        },
        "/api/v1/holder/codes": {
            "post": {
                "summary": "The holder code (一人一码 / 一企一码): masked holder, types and statuses of their licences",
                "security": _AUTH,
                "requestBody": _json(
                    {
                        "type": "object",
                        "required": ["holder"],
                        "properties": {"holder": _HOLDER, "ttl": {"type": "integer", "minimum": 30, "maximum": 900}},
                    }
                ),
                "responses": {
                    "201": {"description": "{code, expires_at, licences}"},
                    "403": _err("not a wallet key"),
                    "404": _err("holder_not_found"),
                    "409": _err(SIGNER_REFUSALS),
                    "422": _err("invalid holder or ttl"),
                },
            }
        },
        "/api/v1/holder/consents": {
            "post": {
                "summary": "Record the holder's consent: which licences, what purpose, which verifier (null: any), "
                "until when",
                "security": _AUTH,
                "requestBody": _json(
                    {
                        "type": "object",
                        "required": ["holder", "licences", "purpose", "valid_until"],
                        "properties": {
                            "holder": _HOLDER,
                            "purpose": {"type": "string"},
                            "verifier": _VERIFIER,
                            "valid_until": {"type": "string"},
                            "licences": {"type": "array", "items": {"type": "string"}},
                        },
                    }
                ),
                "responses": {
                    "201": {"description": "the consent"},
                    "403": _err("not a wallet key"),
                    "404": _err("licence_not_found (not the holder's)"),
                    "422": _err("invalid input"),
                },
            },
            "get": {
                "summary": "The holder's consents (valid, expired, withdrawn)",
                "security": _AUTH,
                "parameters": _HOLDER_QUERY,
                "responses": {"200": items, "403": _err("not a wallet key"), "422": _err("invalid holder")},
            },
        },
        "/api/v1/holder/consents/{consent_id}": {
            "delete": {
                "summary": "Withdraw a consent",
                "security": _AUTH,
                "parameters": [{"name": "consent_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {
                    "204": {"description": "withdrawn"},
                    "403": _err("not a wallet key"),
                    "404": _err("consent_not_found"),
                },
            }
        },
        "/api/v1/holder/uses": {
            "get": {
                "summary": "The holder's record of uses (用证记录): redeems and online presentation checks",
                "security": _AUTH,
                "parameters": _HOLDER_QUERY,
                "responses": {"200": items, "403": _err("not a wallet key"), "422": _err("invalid holder")},
            }
        },
        "/api/v1/holder-codes/redeem": {
            "post": {
                "summary": "Redeem a holder code for the licences its holder consented to (data and file links)",
                "security": _AUTH,
                "requestBody": _json(
                    {
                        "type": "object",
                        "required": ["code", "purpose"],
                        "properties": {
                            "code": {"type": "string"},
                            "purpose": {"type": "string"},
                            "on_behalf_of": {
                                "type": "string",
                                "description": "a peer region's own verifier (recorded)",
                            },
                            "licences": {"type": "array", "items": {"type": "string"}},
                        },
                    }
                ),
                "responses": {
                    "200": {"description": "{holder, consents, licences}"},
                    "403": _err(
                        "no_consent, verifier_not_named, consent_expired, licence_not_consented, "
                        "holder_code_expired, or not a verifier key"
                    ),
                    "422": _err("invalid_holder_code, unknown_holder_code"),
                },
            }
        },
    }


# -- the /verify page ---------------------------------------------------------------------------


def page_view(obj: dict[str, Any]) -> dict[str, Any] | None:
    """What the /verify page shows of a presentation (each licence's disclosed fields by label,
    and the labels of those withheld) or of a holder code; None for any other code."""
    kind = obj.get("code_type")
    if kind == "presentation":
        licences = []
        for lic in obj.get("licences") or []:
            labels = lic.get("labels") or {}
            licences.append(
                {
                    "licence": lic.get("licence"),
                    "type_name": lic.get("licence_type_name") or lic.get("licence_type"),
                    "disclosed": [
                        {"name": k, "label": labels.get(k, k), "value": v}
                        for k, v in (lic.get("disclosed") or {}).items()
                    ],
                    "withheld": [{"name": k, "label": labels.get(k, k)} for k in lic.get("withheld") or []],
                }
            )
        return {"kind": kind, "purpose": obj.get("purpose"), "licences": licences}
    if kind == "holder":
        return {"kind": kind, "holder": obj.get("holder") or {}, "licences": obj.get("licences") or []}
    return None
