"""The OpenAPI 3.1 description served at ``/api/v1/openapi.json``.

Written as data next to the views, each operation through :func:`api.openapi_parts.operation`;
a test checks that every route the app serves under ``/api/v1`` is described here and nothing
described is missing from the app. Every operation but OCSP documents the rate limits' 429.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import Blueprint, Response

from .blueprints.holder import openapi_paths as holder_paths
from .blueprints.lifecycle import openapi_paths as lifecycle_paths
from .catalogue_json import catalogue_document
from .openapi_parts import ERROR_CODES, json_body, operation, with_shared_answers

__all__ = ["bp", "spec"]

bp = Blueprint("openapi", __name__)


def _ref(schema: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{schema}"}


def _json_answer(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _path_param(name: str, description: str | None = None) -> dict[str, Any]:
    param: dict[str, Any] = {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
    if description:
        param["description"] = description
    return param


_SLUG = _path_param("slug", "CA slug: `root`, `services` or a department's USCC")
_FORMAT = {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["der", "pem"], "default": "der"}}
_IDENT = _path_param("identifier", "GB/T 36904 licence identifier")
_ESID = _path_param("esid")
_OCSP_STATUSES = (
    "application/ocsp-response: every answer is HTTP 200, malformedRequest, unauthorized "
    "and, over the [limits] ocsp rate, tryLater (with Retry-After) being OCSP statuses"
)
_OCSP_ANSWER: dict[str, Any] = {
    "description": _OCSP_STATUSES,
    "content": {"application/ocsp-response": {}},
    "headers": {"Retry-After": {"description": "with tryLater: seconds to wait", "schema": {"type": "integer"}}},
}


def _licence(desc: str) -> dict[str, Any]:
    return _json_answer(desc, _ref("Licence"))


def _created(desc: str) -> dict[str, Any]:
    """A 201 with the new licence (version) and its ``Location``."""
    return {
        **_licence(desc),
        "headers": {
            "Location": {
                "description": "/api/v1/licences/{identifier} of the new licence version",
                "schema": {"type": "string"},
            }
        },
    }


def _transition(summary: str, *, required: bool) -> dict[str, Any]:
    """Revoke, suspend, reinstate: the status list is re-signed at once."""
    return {
        "post": operation(
            summary,
            {
                "200": _licence("the licence in its new state"),
                "403": "other department or type",
                "404": "no such licence",
                "409": "not allowed from the current state",
                "422": "invalid input",
            },
            parameters=[_IDENT],
            body=json_body(
                {"reason": {"type": "string", "maxLength": 500}}, ["reason"] if required else [], optional=not required
            ),
            signs=True,
        )
    }


def spec(types: Sequence[Any] = ()) -> dict[str, Any]:
    """The document; ``types`` (the region's licence types) adds each one's request schema."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "trustsvc",
            "version": "1",
            "description": "SM2 trust service: region PKI, e-licences, e-seals, service codes, trust lists.",
        },
        "servers": [{"url": "/"}],
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "API key `tsk_<id>_<secret>`"}
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "description": "Every 4xx and 5xx answer (but OCSP's and TSA's own formats). `x-error-codes` "
                    "lists the codes many operations share, with their HTTP status; each operation names its "
                    "own. Not exhaustive: accept codes not listed.",
                    "x-error-codes": {
                        code: {"status": status, "description": description}
                        for code, (status, description) in ERROR_CODES.items()
                    },
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                                "field": {"type": "string"},
                                "errors": {
                                    "type": "array",
                                    "description": "422: every problem found",
                                    "items": {
                                        "type": "object",
                                        "required": ["field", "code", "message"],
                                        "properties": {
                                            "field": {"type": "string"},
                                            "code": {"type": "string"},
                                            "message": {"type": "string"},
                                        },
                                    },
                                },
                            },
                        }
                    },
                },
                "Report": {
                    "type": "object",
                    "required": ["indication", "checks"],
                    "properties": {
                        "indication": {"type": "string", "enum": ["PASSED", "INDETERMINATE", "FAILED"]},
                        "sub_indication": {"type": ["string", "null"]},
                        "message": {"type": "string"},
                        "object": {"type": "object"},
                        "signing_time": {"type": ["string", "null"]},
                        "checks": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "name": {"type": "string"},
                                    "result": {"type": "string", "enum": ["passed", "failed", "skipped", "warning"]},
                                    "detail": {"type": "string"},
                                },
                            },
                        },
                        "trust_path": {"type": "array"},
                        "warnings": {"type": "array"},
                        "status_now": {"type": "object"},
                    },
                },
                "LicenceRequest": {
                    "type": "object",
                    "required": ["type", "fields"],
                    "description": "Each licence type's exact body is its own schema (GET /api/v1/licence-types, "
                    "`schema`; listed below as LicenceRequest.<code>); holder parts that the type's "
                    "face already names (a 营业执照's 名称 and 统一社会信用代码) may be left out.",
                    "properties": {
                        "type": {
                            "type": "string",
                            "description": "licence type code (GET /api/v1/licence-types), or "
                            "its exact name when only one type bears it",
                        },
                        "department": {"type": "string", "description": "USCC (admin keys)"},
                        "holder": {
                            "type": "object",
                            "properties": {
                                "name": {"type": "string"},
                                "id_type": {"type": "string", "enum": ["111", "001", "414", "516", "511"]},
                                "id": {"type": "string"},
                            },
                        },
                        "fields": {"type": "object"},
                        "valid_from": {"type": ["string", "null"], "format": "date"},
                        "valid_until": {"type": ["string", "null"], "format": "date"},
                    },
                    **(
                        {"oneOf": [{"$ref": f"#/components/schemas/LicenceRequest.{t.code}"} for t in types]}
                        if types
                        else {}
                    ),
                },
                **{f"LicenceRequest.{t.code}": t.schema() for t in types},
                "LicenceType": {
                    "type": "object",
                    "required": ["code", "name", "version", "fields", "schema"],
                    "properties": {
                        "code": {"type": "string"},
                        "name": {"type": "string"},
                        "version": {"type": "integer"},
                        "holder_kind": {"type": "string", "enum": ["organisation", "natural_person"]},
                        "holder": {"type": "object"},
                        "validity": {"type": "object"},
                        "metadata": {"type": "object"},
                        "fields": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["name", "label", "required", "type"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "label": {"type": "string"},
                                    "required": {"type": "boolean"},
                                    "type": {"type": "string", "enum": ["string", "date", "integer", "enum"]},
                                    "enum": {"type": "array", "items": {"type": "string"}},
                                    "pattern": {"type": "string"},
                                    "format": {"type": "string", "enum": ["uscc", "gb11643", "date"]},
                                    "min_length": {"type": "integer"},
                                    "max_length": {"type": "integer"},
                                    "minimum": {"type": "integer"},
                                    "maximum": {"type": "integer"},
                                    "metadata_code": {"type": "string"},
                                },
                            },
                        },
                        "schema": {
                            "type": "object",
                            "description": "JSON Schema (draft 2020-12) of the POST "
                            "/api/v1/licences body for this type",
                        },
                    },
                },
                "Licence": {
                    "type": "object",
                    "required": ["id", "version", "status", "type", "issuer", "holder", "fields", "links"],
                    "properties": {
                        "id": {"type": "string", "description": "GB/T 36904 identifier"},
                        "version": {"type": "integer"},
                        "status": {
                            "type": "string",
                            "enum": ["active", "suspended", "revoked", "superseded", "expired"],
                        },
                        "type": {"type": "string"},
                        "issuer": {"type": "object"},
                        "holder": {"type": "object"},
                        "fields": {"type": "object"},
                        "valid_from": {"type": "string"},
                        "valid_until": {"type": ["string", "null"]},
                        "issued_at": {"type": "string"},
                        "links": {"type": "object"},
                    },
                },
                "Department": {
                    "type": "object",
                    "properties": {
                        "uscc": {"type": "string", "pattern": "^[0-9A-HJ-NPQRTUWXY]{18}$"},
                        "name": {"type": "string"},
                    },
                },
            },
        },
        "paths": with_shared_answers(
            {**_paths(), **holder_paths(), **lifecycle_paths()},
            not_limited=("/api/v1/ocsp", "/api/v1/ocsp/{encoded}"),
        ),
    }


def _paths() -> dict[str, Any]:
    """Every operation but the holder's and the lifecycle's (their blueprints describe them)."""
    op = operation
    trust_list_refusals = (
        "refused: trust_list_pin_mismatch, trust_list_signer_untrusted, trust_list_signer_not_announced, "
        "trust_list_rollback, trust_list_equivocation, trust_list_stale, trust_list_invalid, "
        "trust_list_bad_signature, trust_list_unreachable, invalid_pin, peer_is_self; the list claims what "
        "another anchor holds: trust_list_issuer_invalid, trust_list_issuer_is_local, "
        "trust_list_issuer_held_by_peer, trust_list_issuer_outside_region, trust_list_ca_key_collision"
    )
    return {
        "/healthz": {
            "get": op(
                "Provider, self-test and database health",
                {"200": "healthy", "503": {"description": "self-test or database not ok"}},
                auth=False,
            )
        },
        "/metrics": {"get": op("Prometheus metrics", {"200": "text"}, auth=False)},
        "/api/v1/openapi.json": {"get": op("This document", {"200": "JSON"}, auth=False)},
        "/api/v1/whoami": {"get": op("The caller's role and scope", {"200": "principal"})},
        "/api/v1/departments": {
            "get": op("List issuing departments", {"200": "departments"}),
            "post": op(
                "Add a department: issuing CA, seal-maker and signer certificates (admin)",
                {
                    "201": "created",
                    "200": "existed already",
                    "403": "not admin",
                    "409": "USCC exists with another name",
                    "422": "invalid USCC or name",
                },
                body=json_body(schema=_ref("Department")),
                signs=True,
            ),
        },
        "/api/v1/apikeys": {
            "post": op(
                "Create an API key (admin); the key is returned once",
                {"201": "created", "403": "not admin", "422": "invalid role or scope"},
                body=json_body(
                    {
                        "role": {"type": "string", "enum": ["admin", "issuer", "verifier", "peer"]},
                        "department": {"type": "string"},
                        "licence_types": {"type": "array", "items": {"type": "string"}},
                        "label": {"type": "string"},
                    },
                    ["role"],
                ),
            )
        },
        "/api/v1/apikeys/{key_id}": {
            "delete": op(
                "Revoke an API key (admin)",
                {"204": "revoked", "404": "unknown key"},
                parameters=[_path_param("key_id")],
            )
        },
        "/api/v1/seals": {
            "get": op(
                "Seals with status and history (admin, seal manager; an issuer sees its department's)",
                {"200": "seals", "403": "role or department"},
                parameters=[
                    {"name": "department", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "status",
                        "in": "query",
                        "schema": {"type": "string", "enum": ["active", "suspended", "revoked", "superseded"]},
                    },
                ],
            ),
            "post": op(
                "Make a department seal (GB/T 38540 v4): admin, or a seal manager for its department",
                {
                    "201": "the seal",
                    "403": "other department or role",
                    "404": "no such department",
                    "422": "invalid input",
                },
                body=json_body(
                    {
                        "department": {"type": "string", "description": "USCC (admin keys)"},
                        "name": {"type": "string"},
                        "type": {"type": "integer", "default": 1},
                        "valid_from": {"type": "string", "format": "date-time"},
                        "valid_until": {"type": "string", "format": "date-time"},
                        "cert_list_type": {"type": "integer", "enum": [1, 2]},
                        "picture": {"type": "string", "contentEncoding": "base64"},
                        "center_text": {"type": "string"},
                        "default": {"type": "boolean", "description": "seal licences with it from now on"},
                    },
                    ["name"],
                ),
                signs=True,
            ),
        },
        "/api/v1/seals/{esid}": {
            "get": op(
                "A seal's metadata, or with format=esl the seal itself (DER)",
                {"200": "JSON or application/octet-stream", "404": "no such seal"},
                auth=False,
                parameters=[
                    _ESID,
                    {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["json", "esl"]}},
                ],
            )
        },
        "/api/v1/seals/{esid}/sign": {
            "post": op(
                "Apply the seal to the request body (or multipart file): an SES_Signature v4",
                {
                    "200": "signature (base64 in JSON, or DER)",
                    "403": "seal of another department",
                    "404": "no such seal",
                    "409": "seal_suspended, seal_revoked, seal_superseded",
                },
                parameters=[
                    _ESID,
                    {"name": "property_info", "in": "query", "schema": {"type": "string"}},
                    {"name": "timestamp", "in": "query", "schema": {"type": "boolean", "default": True}},
                    {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["json", "der"]}},
                ],
                body={"required": True, "content": {"application/octet-stream": {}, "multipart/form-data": {}}},
                signs=True,
            )
        },
        "/api/v1/licence-types": {
            "get": op(
                "The region's licence types: fields with labels and constraints, and each "
                "type's request body as JSON Schema (draft 2020-12)",
                {"200": _json_answer("every current type", {"type": "array", "items": _ref("LicenceType")})},
                auth=False,
            ),
            "post": op(
                "Add a licence type, or a new version of one (`extends`: change only the keys "
                "given); licences keep the version they were issued under",
                {
                    "201": _json_answer("recorded as a new version", _ref("LicenceType")),
                    "200": "identical to the current version: nothing recorded",
                    "403": "not an admin key",
                    "422": "invalid_licence_type: `field` is the offending key's path",
                },
                body=json_body(
                    schema={
                        "type": "object",
                        "description": "a licence type definition (the keys of a type file), "
                        "plus `template` (short name) for a new type",
                    }
                ),
            ),
        },
        "/api/v1/licence-types/{code}": {
            "get": op(
                "One licence type (`?version=N`: as it was then), its definition and its versions",
                {
                    "200": _json_answer("the type", _ref("LicenceType")),
                    "404": "licence_type_version_not_found",
                    "422": "unknown_licence_type",
                },
                auth=False,
                parameters=[
                    _path_param("code", "type code (or its exact name)"),
                    {"name": "version", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                ],
            )
        },
        "/api/v1/licences:batch": {
            "post": op(
                "Issue or import up to 1,000 licences (each a licence body, plus optional key, id "
                "and issued_on); each answered by index: created, replayed or its errors",
                {
                    "200": _json_answer("created, replayed, failed and results[] by index", {"type": "object"}),
                    "400": "malformed_json, malformed_request",
                    "403": "role_not_allowed",
                    "422": "invalid_batch",
                },
                body=json_body(
                    {
                        "licences": {"type": "array", "minItems": 1, "maxItems": 1000, "items": {"type": "object"}},
                        "department": {"type": "string", "description": "admin keys: the issuing department"},
                    },
                    ["licences"],
                ),
            )
        },
        "/api/v1/licences": {
            "post": op(
                "Issue an e-licence (GB/T 36904 identifier, sealed GB/T 36903 metadata)",
                {
                    "201": _created("issued"),
                    "200": _licence("idempotent replay: the licence issued before"),
                    "400": "malformed_json (says where parsing failed), malformed_request (not a JSON object)",
                    "403": "licence_type_not_allowed (the message names the key's types and how "
                    "to get a key that may), other_department",
                    "409": "no_seal, seal_suspended, seal_revoked (the default seal), idempotency_key_reused, "
                    "catalogue_changed (licence types kept being recorded meanwhile: try again)",
                    "422": "invalid input; unknown_licence_type (errors[] names field `type`; "
                    "the message lists valid codes and names)",
                },
                parameters=[
                    {"name": "Idempotency-Key", "in": "header", "schema": {"type": "string", "maxLength": 200}}
                ],
                body=json_body(schema=_ref("LicenceRequest")),
                signs=True,
            ),
            "get": op(
                "List licences, newest first (issuer: its department's; admin: all)",
                {
                    "200": _json_answer(
                        "one page",
                        {
                            "type": "object",
                            "required": ["items", "next_cursor"],
                            "properties": {
                                "items": {"type": "array", "items": _ref("Licence")},
                                "next_cursor": {"type": ["string", "null"]},
                            },
                        },
                    ),
                    "403": "verifier/peer key, or another department",
                    "422": "invalid_status, invalid_limit, invalid_cursor",
                },
                parameters=[
                    {
                        "name": "status",
                        "in": "query",
                        "schema": {
                            "type": "string",
                            "enum": ["active", "suspended", "revoked", "superseded", "expired"],
                        },
                    },
                    {"name": "type", "in": "query", "schema": {"type": "string"}, "description": "licence type code"},
                    {
                        "name": "q",
                        "in": "query",
                        "schema": {"type": "string", "maxLength": 100},
                        "description": "text in the identifier or holder name, or the holder's exact id",
                    },
                    {
                        "name": "department",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "USCC (admin: one department; issuer: only its own)",
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
                    },
                    {
                        "name": "cursor",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "next_cursor of the previous page",
                    },
                ],
            ),
        },
        "/api/v1/licences/{identifier}": {
            "get": op(
                "A licence (issuer of its department, verifier, admin)",
                {
                    "200": _licence("the licence"),
                    "403": "other department",
                    "404": "no such licence",
                    "422": "malformed identifier",
                },
                parameters=[_IDENT],
            )
        },
        "/api/v1/licences/{identifier}/file": {
            "get": op(
                "The licence version's sealed PDF (SM2 adbe.pkcs7.detached, time-stamped) or OFD "
                "(GB/T 33190, sealed with the department's GB/T 38540 seal, time-stamped): ?format=ofd "
                "or Accept: application/ofd; made on first request and then always the same bytes. "
                "Issuer of its department, verifier, admin",
                {
                    "200": {
                        "description": "application/pdf or application/ofd; ETag is the SHA-256 of the file",
                        "content": {"application/pdf": {}, "application/ofd": {}},
                    },
                    "304": "not modified (If-None-Match matched the ETag)",
                    "403": "other department, or a peer key",
                    "404": "no such licence",
                    "409": "licence_not_active: no file was made while it was active; no_seal, seal_suspended, "
                    "seal_revoked (the default seal)",
                    "422": "malformed identifier, or a format other than pdf or ofd",
                },
                parameters=[
                    _IDENT,
                    {
                        "name": "format",
                        "in": "query",
                        "schema": {"type": "string", "enum": ["pdf", "ofd"], "default": "pdf"},
                    },
                    {"name": "Accept", "in": "header", "schema": {"type": "string"}},
                    {"name": "If-None-Match", "in": "header", "schema": {"type": "string"}},
                ],
                signs=True,
            )
        },
        "/api/v1/licences/{identifier}/revoke": _transition("Revoke a licence", required=True),
        "/api/v1/licences/{identifier}/suspend": _transition("Suspend an active licence", required=False),
        "/api/v1/licences/{identifier}/reinstate": _transition("Reinstate a suspended licence", required=False),
        "/api/v1/licences/{identifier}/change": {
            "post": op(
                "变更: a new version (+1) with changed fields and/or holder name; the old one is superseded",
                {
                    "201": _created("the new version"),
                    "400": "not a JSON object",
                    "403": "other department or type",
                    "404": "no such licence",
                    "409": "not active (e.g. already superseded)",
                    "422": "nothing_to_change, unknown_field, invalid fields",
                },
                parameters=[_IDENT],
                body=json_body(
                    {
                        "fields": {"type": "object", "description": "merged over the current fields"},
                        "holder_name": {"type": "string"},
                    }
                ),
                signs=True,
            )
        },
        "/api/v1/licences/{identifier}/renew": {
            "post": op(
                "延续: a new version (+1) with a new validity period; the old one is superseded",
                {
                    "201": _created("the new version"),
                    "400": "not a JSON object",
                    "403": "other department or type",
                    "404": "no such licence",
                    "409": "not active",
                    "422": "missing or invalid dates",
                },
                parameters=[_IDENT],
                body=json_body(
                    {
                        "valid_until": {
                            "type": ["string", "null"],
                            "format": "date",
                            "description": "null: no end (长期)",
                        },
                        "valid_from": {"type": "string", "format": "date"},
                    },
                    ["valid_until"],
                ),
                signs=True,
            )
        },
        "/api/v1/verify": {
            "post": op(
                "Verify an OFD, licence PDF, seal, SES signature, CMS, certificate or service code "
                "(text, or a photo of its QR as `image`): a VerificationReport. Codes are verified "
                "online; with an API key (any role) the verification is audited with its purpose and "
                "uses a dynamic code up (a second use is FAILED / ALREADY_USED)",
                {
                    "200": _json_answer("the report, whatever the indication", _ref("Report")),
                    "400": "nothing to verify; malformed_json, json_too_deep",
                    "413": "payload_too_large",
                    "422": "missing_field purpose (keyed code verification), invalid_image, no_code_found, "
                    "invalid_text, number_out_of_range",
                },
                auth=None,
                parameters=[
                    {
                        "name": "purpose",
                        "in": "query",
                        "schema": {"type": "string", "maxLength": 200},
                        "description": "why a code is verified (raw-body requests)",
                    }
                ],
                body={
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "file": {"type": "string", "format": "binary"},
                                    "original": {"type": "string", "format": "binary"},
                                    "image": {
                                        "type": "string",
                                        "format": "binary",
                                        "description": "a photo or scan of a service code's QR (PNG, JPEG)",
                                    },
                                    "purpose": {"type": "string", "maxLength": 200},
                                },
                            }
                        },
                        "application/octet-stream": {},
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["code"],
                                "properties": {
                                    "code": {"type": "string", "description": "TS1:…"},
                                    "purpose": {
                                        "type": "string",
                                        "maxLength": 200,
                                        "description": "required with an API key",
                                    },
                                },
                            }
                        },
                    },
                },
            )
        },
        "/api/v1/licences/{identifier}/code": {
            "get": op(
                "The licence version's static service code (made on first request, then the same text)",
                {
                    "200": "text/plain `TS1:…`, image/png or image/svg+xml (QR, level Q)",
                    "403": "other department or type, or not an issuer/admin key",
                    "404": "no such licence",
                    "422": "invalid_format, malformed identifier",
                },
                parameters=[
                    _IDENT,
                    {
                        "name": "format",
                        "in": "query",
                        "schema": {"type": "string", "enum": ["text", "png", "svg"], "default": "text"},
                    },
                ],
                signs=True,
            )
        },
        "/api/v1/licences/{identifier}/codes": {
            "post": op(
                "A dynamic service code: short-lived (default [codes] dynamic_ttl, 120 s), single use online",
                {
                    "201": _json_answer(
                        "the code",
                        {
                            "type": "object",
                            "required": ["code", "expires_at"],
                            "properties": {
                                "code": {"type": "string"},
                                "type": {"type": "string"},
                                "licence": {"type": "string"},
                                "issued_at": {"type": "string"},
                                "expires_at": {"type": "string"},
                            },
                        },
                    ),
                    "403": "other department or type",
                    "404": "no such licence",
                    "409": "licence_not_active",
                    "422": "invalid_ttl",
                },
                parameters=[_IDENT],
                body=json_body({"ttl": {"type": "integer", "minimum": 30, "maximum": 900}}, optional=True),
                signs=True,
            )
        },
        "/api/v1/tsa": {
            "post": op(
                "RFC 3161 time-stamping (SM2/SM3) by the region TSA",
                {"200": "application/timestamp-reply", "400": "wrong content type"},
                auth=False,
                body={"required": True, "content": {"application/timestamp-query": {}}},
                signs=True,
            )
        },
        "/api/v1/ca": {"get": op("The region's CA certificates", {"200": "list"}, auth=False)},
        "/api/v1/ca/{slug}": {
            "get": op(
                "Download a CA certificate",
                {"200": "application/pkix-cert or PEM", "404": "no such CA"},
                auth=False,
                parameters=[_SLUG, _FORMAT],
            )
        },
        "/api/v1/crl/{slug}": {
            "get": op(
                "The CA's current CRL (re-signed when due)",
                {"200": "application/pkix-crl or PEM", "404": "no such CA"},
                auth=False,
                parameters=[_SLUG, _FORMAT],
                signs=True,
            )
        },
        "/api/v1/status/{issuer}": {
            "get": op(
                "The issuer's signed status list (CMS SignedData, SM2/SM3, over canonical JSON with "
                "W3C-style GZIP+base64url revocation and suspension bitstrings)",
                {
                    "200": "application/cms (DER), or the decoded list as JSON; "
                    "ETag = SHA-256 of the DER, Cache-Control max-age",
                    "304": "not modified (If-None-Match matched)",
                    "404": "issuer_not_found",
                    "422": "invalid format",
                },
                auth=False,
                parameters=[
                    _path_param("issuer", "the issuing department's USCC"),
                    {
                        "name": "format",
                        "in": "query",
                        "schema": {"type": "string", "enum": ["der", "json"], "default": "der"},
                    },
                    {"name": "If-None-Match", "in": "header", "schema": {"type": "string"}},
                ],
                signs=True,
            )
        },
        "/api/v1/ocsp": {
            "post": op(
                "RFC 6960 OCSP for certificates of this region's CAs (SM2/SM3)",
                {"200": _OCSP_ANSWER},
                auth=False,
                body={"required": True, "content": {"application/ocsp-request": {}}},
            )
        },
        "/api/v1/ocsp/{encoded}": {
            "get": op(
                "RFC 6960 A.1 GET form: the URL-encoded base64 of the DER request",
                {"200": {**_OCSP_ANSWER, "description": "cacheable; " + _OCSP_STATUSES}},
                auth=False,
                parameters=[_path_param("encoded")],
            )
        },
        # -- trust lists between regions (trustsvc.federation.trust_lists, trustsvc.federation.peers) --
        "/api/v1/trust-list": {
            "get": op(
                "This region's signed trust list (CMS SignedData, SM2/SM3, over canonical JSON: roots, "
                "CAs, trust-list, status-list and code signers, issuers with their licence types, "
                "status-list and OCSP URLs)",
                {
                    "200": "application/cms (DER), or a JSON summary; ETag = SHA-256 of "
                    "the DER, Cache-Control max-age until it is re-signed",
                    "304": "not modified (If-None-Match matched)",
                    "422": "invalid format",
                },
                auth=False,
                parameters=[
                    {
                        "name": "format",
                        "in": "query",
                        "schema": {"type": "string", "enum": ["der", "json"], "default": "der"},
                    },
                    {"name": "If-None-Match", "in": "header", "schema": {"type": "string"}},
                ],
                signs=True,
            )
        },
        "/api/v1/trust/peers": {
            "get": op(
                "Peer regions imported by pin: list sequence, freshness (stale after "
                "next_update + grace), last refresh outcome, status lists held",
                {"200": "list", "403": "not an admin key"},
            ),
            "post": op(
                "Import a peer region's trust list by pin (SHA-256 of its root CA certificate)",
                {
                    "201": "imported",
                    "200": "already held (updated or unchanged)",
                    "403": "not an admin key",
                    "422": trust_list_refusals,
                    "429": "peer_operations_busy: too many imports or refreshes at once",
                    "504": "peer_fetch_timeout: the peer did not deliver within [trust] fetch_timeout "
                    "(connect, headers and body)",
                },
                body=json_body(
                    {
                        "url": {
                            "type": "string",
                            "description": "the peer's trust-list URL (a bare base URL gets /api/v1/trust-list)",
                        },
                        "pin": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"},
                    },
                    ["url", "pin"],
                ),
            ),
        },
        "/api/v1/trust/refresh": {
            "post": op(
                "Refresh every peer's trust list and its issuers' status lists now (peers "
                "concurrently, each within [trust] peer_budget)",
                {"200": "each peer's outcome", "403": "not an admin key", "429": "peer_operations_busy"},
            )
        },
    }


@bp.get("/openapi.json")
def openapi_json() -> Response:
    from trustsvc.licences.catalogue import catalogue_for
    from trustsvc.pki import region_code_or_blank

    from .request import service

    db = service().db
    types = catalogue_for(region_code_or_blank(db), db)
    return catalogue_document("openapi", types, lambda: spec(types))
