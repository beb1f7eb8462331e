"""The OpenAPI 3.1 description served at ``/api/v1/openapi.json``.

Written as data next to the views; a test checks that every route the app serves under
``/api/v1`` is described here and nothing described is missing from the app.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import Blueprint, Response, jsonify

from .blueprints.holder import openapi_paths as holder_paths
from .blueprints.lifecycle import openapi_paths as lifecycle_paths

__all__ = ["bp", "spec"]

bp = Blueprint("openapi", __name__)

_ERROR = {"$ref": "#/components/schemas/Error"}


def _err(desc: str) -> dict[str, Any]:
    return {"description": desc, "content": {"application/json": {"schema": _ERROR}}}


_SLUG = {
    "name": "slug",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "CA slug: `root`, `services` or a department's USCC",
}
_FORMAT = {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["der", "pem"], "default": "der"}}
_AUTH: list[dict[str, list[str]]] = [{"bearer": []}]
_IDENT = {
    "name": "identifier",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "GB/T 36904 licence identifier",
}


def _licence(desc: str) -> dict[str, Any]:
    return {"description": desc, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Licence"}}}}


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
    return {
        "post": {
            "summary": summary,
            "security": _AUTH,
            "parameters": [_IDENT],
            "requestBody": {
                "required": required,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["reason"] if required else [],
                            "properties": {"reason": {"type": "string", "maxLength": 500}},
                        }
                    }
                },
            },
            "responses": {
                "200": _licence("the licence in its new state"),
                "403": _err("other department or type"),
                "404": _err("no such licence"),
                "409": _err("not allowed from the current state"),
                "422": _err("invalid input"),
            },
        }
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
        "paths": {
            "/healthz": {
                "get": {
                    "summary": "Provider, self-test and database health",
                    "responses": {
                        "200": {"description": "healthy"},
                        "503": {"description": "self-test or database not ok"},
                    },
                }
            },
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text"}}}},
            "/api/v1/openapi.json": {
                "get": {"summary": "This document", "responses": {"200": {"description": "JSON"}}}
            },
            "/api/v1/whoami": {
                "get": {
                    "summary": "The caller's role and scope",
                    "security": _AUTH,
                    "responses": {"200": {"description": "principal"}, "401": _err("no or bad key")},
                }
            },
            "/api/v1/departments": {
                "get": {
                    "summary": "List issuing departments",
                    "security": _AUTH,
                    "responses": {"200": {"description": "departments"}, "401": _err("no or bad key")},
                },
                "post": {
                    "summary": "Add a department: issuing CA, seal-maker and signer certificates (admin)",
                    "security": _AUTH,
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Department"}}},
                    },
                    "responses": {
                        "201": {"description": "created"},
                        "200": {"description": "existed already"},
                        "401": _err("no or bad key"),
                        "403": _err("not admin"),
                        "409": _err("USCC exists with another name"),
                        "422": _err("invalid USCC or name"),
                    },
                },
            },
            "/api/v1/apikeys": {
                "post": {
                    "summary": "Create an API key (admin); the key is returned once",
                    "security": _AUTH,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["role"],
                                    "properties": {
                                        "role": {"type": "string", "enum": ["admin", "issuer", "verifier", "peer"]},
                                        "department": {"type": "string"},
                                        "licence_types": {"type": "array", "items": {"type": "string"}},
                                        "label": {"type": "string"},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": {"description": "created"},
                        "401": _err("no or bad key"),
                        "403": _err("not admin"),
                        "422": _err("invalid role or scope"),
                    },
                }
            },
            "/api/v1/apikeys/{key_id}": {
                "delete": {
                    "summary": "Revoke an API key (admin)",
                    "security": _AUTH,
                    "parameters": [{"name": "key_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {"204": {"description": "revoked"}, "404": _err("unknown key")},
                }
            },
            "/api/v1/seals": {
                "get": {
                    "summary": "Seals with status and history (admin, seal manager; an issuer sees its department's)",
                    "security": _AUTH,
                    "parameters": [
                        {"name": "department", "in": "query", "schema": {"type": "string"}},
                        {
                            "name": "status",
                            "in": "query",
                            "schema": {"type": "string", "enum": ["active", "suspended", "revoked", "superseded"]},
                        },
                    ],
                    "responses": {"200": {"description": "seals"}, "403": _err("role or department")},
                },
                "post": {
                    "summary": "Make a department seal (GB/T 38540 v4): admin, or a seal manager for its department",
                    "security": _AUTH,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["name"],
                                    "properties": {
                                        "department": {"type": "string", "description": "USCC (admin keys)"},
                                        "name": {"type": "string"},
                                        "type": {"type": "integer", "default": 1},
                                        "valid_from": {"type": "string", "format": "date-time"},
                                        "valid_until": {"type": "string", "format": "date-time"},
                                        "cert_list_type": {"type": "integer", "enum": [1, 2]},
                                        "picture": {"type": "string", "contentEncoding": "base64"},
                                        "center_text": {"type": "string"},
                                        "default": {
                                            "type": "boolean",
                                            "description": "seal licences with it from now on",
                                        },
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": {"description": "the seal"},
                        "401": _err("no or bad key"),
                        "403": _err("other department or role"),
                        "404": _err("no such department"),
                        "422": _err("invalid input"),
                    },
                },
            },
            "/api/v1/seals/{esid}": {
                "get": {
                    "summary": "A seal's metadata, or with format=esl the seal itself (DER)",
                    "parameters": [
                        {"name": "esid", "in": "path", "required": True, "schema": {"type": "string"}},
                        {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["json", "esl"]}},
                    ],
                    "responses": {
                        "200": {"description": "JSON or application/octet-stream"},
                        "404": _err("no such seal"),
                    },
                }
            },
            "/api/v1/seals/{esid}/sign": {
                "post": {
                    "summary": "Apply the seal to the request body (or multipart file): an SES_Signature v4",
                    "security": _AUTH,
                    "parameters": [
                        {"name": "esid", "in": "path", "required": True, "schema": {"type": "string"}},
                        {"name": "property_info", "in": "query", "schema": {"type": "string"}},
                        {"name": "timestamp", "in": "query", "schema": {"type": "boolean", "default": True}},
                        {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["json", "der"]}},
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/octet-stream": {}, "multipart/form-data": {}},
                    },
                    "responses": {
                        "200": {"description": "signature (base64 in JSON, or DER)"},
                        "403": _err("seal of another department"),
                        "404": _err("no such seal"),
                    },
                }
            },
            "/api/v1/licence-types": {
                "get": {
                    "summary": "The region's licence types: fields with labels and constraints, and each "
                    "type's request body as JSON Schema (draft 2020-12)",
                    "responses": {
                        "200": {
                            "description": "every current type",
                            "content": {
                                "application/json": {
                                    "schema": {"type": "array", "items": {"$ref": "#/components/schemas/LicenceType"}}
                                }
                            },
                        }
                    },
                },
                "post": {
                    "summary": "Add a licence type, or a new version of one (`extends`: change only the keys "
                    "given); licences keep the version they were issued under",
                    "security": _AUTH,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "description": "a licence type definition (the keys of a type file), "
                                    "plus `template` (short name) for a new type",
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": {
                            "description": "recorded as a new version",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LicenceType"}}},
                        },
                        "200": {"description": "identical to the current version: nothing recorded"},
                        "403": _err("not an admin key"),
                        "422": _err("invalid_licence_type: `field` is the offending key's path"),
                    },
                },
            },
            "/api/v1/licence-types/{code}": {
                "get": {
                    "summary": "One licence type (`?version=N`: as it was then), its definition and its versions",
                    "parameters": [
                        {
                            "name": "code",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                            "description": "type code (or its exact name)",
                        },
                        {"name": "version", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                    ],
                    "responses": {
                        "200": {
                            "description": "the type",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LicenceType"}}},
                        },
                        "404": _err("licence_type_version_not_found"),
                        "422": _err("unknown_licence_type"),
                    },
                }
            },
            "/api/v1/licences:batch": {
                "post": {
                    "summary": "Issue or import up to 1,000 licences (each a licence body, plus optional key, id "
                    "and issued_on); each answered by index: created, replayed or its errors",
                    "security": _AUTH,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["licences"],
                                    "properties": {
                                        "licences": {
                                            "type": "array",
                                            "minItems": 1,
                                            "maxItems": 1000,
                                            "items": {"type": "object"},
                                        },
                                        "department": {
                                            "type": "string",
                                            "description": "admin keys: the issuing department",
                                        },
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "created, replayed, failed and results[] by index",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        "400": _err("malformed_json, malformed_request"),
                        "401": _err("no or bad key"),
                        "403": _err("role_not_allowed"),
                        "422": _err("invalid_batch"),
                    },
                }
            },
            "/api/v1/licences": {
                "post": {
                    "summary": "Issue an e-licence (GB/T 36904 identifier, sealed GB/T 36903 metadata)",
                    "security": _AUTH,
                    "parameters": [
                        {"name": "Idempotency-Key", "in": "header", "schema": {"type": "string", "maxLength": 200}}
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LicenceRequest"}}},
                    },
                    "responses": {
                        "201": _created("issued"),
                        "200": _licence("idempotent replay: the licence issued before"),
                        "400": _err(
                            "malformed_json (says where parsing failed), malformed_request (not a JSON object)"
                        ),
                        "401": _err("no or bad key"),
                        "403": _err(
                            "licence_type_not_allowed (the message names the key's types and how "
                            "to get a key that may), other_department"
                        ),
                        "409": _err("no_seal, idempotency_key_reused"),
                        "422": _err(
                            "invalid input; unknown_licence_type (errors[] names field `type`; "
                            "the message lists valid codes and names)"
                        ),
                    },
                },
                "get": {
                    "summary": "List licences, newest first (issuer: its department's; admin: all)",
                    "security": _AUTH,
                    "parameters": [
                        {
                            "name": "status",
                            "in": "query",
                            "schema": {
                                "type": "string",
                                "enum": ["active", "suspended", "revoked", "superseded", "expired"],
                            },
                        },
                        {
                            "name": "type",
                            "in": "query",
                            "schema": {"type": "string"},
                            "description": "licence type code",
                        },
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
                    "responses": {
                        "200": {
                            "description": "one page",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["items", "next_cursor"],
                                        "properties": {
                                            "items": {
                                                "type": "array",
                                                "items": {"$ref": "#/components/schemas/Licence"},
                                            },
                                            "next_cursor": {"type": ["string", "null"]},
                                        },
                                    }
                                }
                            },
                        },
                        "401": _err("no or bad key"),
                        "403": _err("verifier/peer key, or another department"),
                        "422": _err("invalid_status, invalid_limit, invalid_cursor"),
                    },
                },
            },
            "/api/v1/licences/{identifier}": {
                "get": {
                    "summary": "A licence (issuer of its department, verifier, admin)",
                    "security": _AUTH,
                    "parameters": [_IDENT],
                    "responses": {
                        "200": _licence("the licence"),
                        "403": _err("other department"),
                        "404": _err("no such licence"),
                        "422": _err("malformed identifier"),
                    },
                }
            },
            "/api/v1/licences/{identifier}/file": {
                "get": {
                    "summary": "The licence version's sealed PDF (SM2 adbe.pkcs7.detached, time-stamped) or OFD "
                    "(GB/T 33190, sealed with the department's GB/T 38540 seal, time-stamped): ?format=ofd "
                    "or Accept: application/ofd; made on first request and then always the same bytes. "
                    "Issuer of its department, verifier, admin",
                    "security": _AUTH,
                    "parameters": [
                        _IDENT,
                        {
                            "name": "format",
                            "in": "query",
                            "schema": {"type": "string", "enum": ["pdf", "ofd"], "default": "pdf"},
                        },
                        {"name": "Accept", "in": "header", "schema": {"type": "string"}},
                        {"name": "If-None-Match", "in": "header", "schema": {"type": "string"}},
                    ],
                    "responses": {
                        "200": {
                            "description": "application/pdf or application/ofd; ETag is the SHA-256 of the file",
                            "content": {"application/pdf": {}, "application/ofd": {}},
                        },
                        "304": {"description": "not modified (If-None-Match matched the ETag)"},
                        "401": _err("no or bad key"),
                        "403": _err("other department, or a peer key"),
                        "404": _err("no such licence"),
                        "409": _err("licence_not_active: no file was made while it was active"),
                        "422": _err("malformed identifier, or a format other than pdf or ofd"),
                    },
                }
            },
            "/api/v1/licences/{identifier}/revoke": _transition("Revoke a licence", required=True),
            "/api/v1/licences/{identifier}/suspend": _transition("Suspend an active licence", required=False),
            "/api/v1/licences/{identifier}/reinstate": _transition("Reinstate a suspended licence", required=False),
            "/api/v1/licences/{identifier}/change": {
                "post": {
                    "summary": "变更: a new version (+1) with changed fields and/or holder name; the old one is superseded",
                    "security": _AUTH,
                    "parameters": [_IDENT],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "fields": {"type": "object", "description": "merged over the current fields"},
                                        "holder_name": {"type": "string"},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": _created("the new version"),
                        "400": _err("not a JSON object"),
                        "403": _err("other department or type"),
                        "404": _err("no such licence"),
                        "409": _err("not active (e.g. already superseded)"),
                        "422": _err("nothing_to_change, unknown_field, invalid fields"),
                    },
                }
            },
            "/api/v1/licences/{identifier}/renew": {
                "post": {
                    "summary": "延续: a new version (+1) with a new validity period; the old one is superseded",
                    "security": _AUTH,
                    "parameters": [_IDENT],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["valid_until"],
                                    "properties": {
                                        "valid_until": {
                                            "type": ["string", "null"],
                                            "format": "date",
                                            "description": "null: no end (长期)",
                                        },
                                        "valid_from": {"type": "string", "format": "date"},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": _created("the new version"),
                        "400": _err("not a JSON object"),
                        "403": _err("other department or type"),
                        "404": _err("no such licence"),
                        "409": _err("not active"),
                        "422": _err("missing or invalid dates"),
                    },
                }
            },
            "/api/v1/verify": {
                "post": {
                    "summary": "Verify an OFD, licence PDF, seal, SES signature, CMS, certificate or service code "
                    "(text, or a photo of its QR as `image`): a VerificationReport. Codes are verified "
                    "online; with an API key (any role) the verification is audited with its purpose and "
                    "uses a dynamic code up (a second use is FAILED / ALREADY_USED)",
                    "security": [{}, {"bearer": []}],
                    "parameters": [
                        {
                            "name": "purpose",
                            "in": "query",
                            "schema": {"type": "string", "maxLength": 200},
                            "description": "why a code is verified (raw-body requests)",
                        }
                    ],
                    "requestBody": {
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
                    "responses": {
                        "200": {
                            "description": "the report, whatever the indication",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Report"}}},
                        },
                        "400": _err("nothing to verify"),
                        "401": _err("a bad API key"),
                        "422": _err("missing_field purpose (keyed code verification), invalid_image, no_code_found"),
                    },
                }
            },
            "/api/v1/licences/{identifier}/code": {
                "get": {
                    "summary": "The licence version's static service code (made on first request, then the same text)",
                    "security": _AUTH,
                    "parameters": [
                        _IDENT,
                        {
                            "name": "format",
                            "in": "query",
                            "schema": {"type": "string", "enum": ["text", "png", "svg"], "default": "text"},
                        },
                    ],
                    "responses": {
                        "200": {"description": "text/plain `TS1:…`, image/png or image/svg+xml (QR, level Q)"},
                        "403": _err("other department or type, or not an issuer/admin key"),
                        "404": _err("no such licence"),
                        "422": _err("invalid_format, malformed identifier"),
                    },
                }
            },
            "/api/v1/licences/{identifier}/codes": {
                "post": {
                    "summary": "A dynamic service code: short-lived (default [codes] dynamic_ttl, 120 s), single use online",
                    "security": _AUTH,
                    "parameters": [_IDENT],
                    "requestBody": {
                        "required": False,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"ttl": {"type": "integer", "minimum": 30, "maximum": 900}},
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": {
                            "description": "the code",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["code", "expires_at"],
                                        "properties": {
                                            "code": {"type": "string"},
                                            "type": {"type": "string"},
                                            "licence": {"type": "string"},
                                            "issued_at": {"type": "string"},
                                            "expires_at": {"type": "string"},
                                        },
                                    }
                                }
                            },
                        },
                        "403": _err("other department or type"),
                        "404": _err("no such licence"),
                        "409": _err("licence_not_active"),
                        "422": _err("invalid_ttl"),
                    },
                }
            },
            "/api/v1/tsa": {
                "post": {
                    "summary": "RFC 3161 time-stamping (SM2/SM3) by the region TSA",
                    "requestBody": {"required": True, "content": {"application/timestamp-query": {}}},
                    "responses": {
                        "200": {"description": "application/timestamp-reply"},
                        "400": _err("wrong content type"),
                    },
                }
            },
            "/api/v1/ca": {
                "get": {"summary": "The region's CA certificates", "responses": {"200": {"description": "list"}}}
            },
            "/api/v1/ca/{slug}": {
                "get": {
                    "summary": "Download a CA certificate",
                    "parameters": [_SLUG, _FORMAT],
                    "responses": {"200": {"description": "application/pkix-cert or PEM"}, "404": _err("no such CA")},
                }
            },
            "/api/v1/crl/{slug}": {
                "get": {
                    "summary": "The CA's current CRL",
                    "parameters": [_SLUG, _FORMAT],
                    "responses": {"200": {"description": "application/pkix-crl or PEM"}, "404": _err("no such CA")},
                }
            },
            "/api/v1/status/{issuer}": {
                "get": {
                    "summary": "The issuer's signed status list (CMS SignedData, SM2/SM3, over canonical JSON with "
                    "W3C-style GZIP+base64url revocation and suspension bitstrings)",
                    "parameters": [
                        {
                            "name": "issuer",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                            "description": "the issuing department's USCC",
                        },
                        {
                            "name": "format",
                            "in": "query",
                            "schema": {"type": "string", "enum": ["der", "json"], "default": "der"},
                        },
                        {"name": "If-None-Match", "in": "header", "schema": {"type": "string"}},
                    ],
                    "responses": {
                        "200": {
                            "description": "application/cms (DER), or the decoded list as JSON; "
                            "ETag = SHA-256 of the DER, Cache-Control max-age"
                        },
                        "304": {"description": "not modified (If-None-Match matched)"},
                        "404": _err("issuer_not_found"),
                        "422": _err("invalid format"),
                    },
                }
            },
            "/api/v1/ocsp": {
                "post": {
                    "summary": "RFC 6960 OCSP for certificates of this region's CAs (SM2/SM3)",
                    "requestBody": {"required": True, "content": {"application/ocsp-request": {}}},
                    "responses": {
                        "200": {
                            "description": "application/ocsp-response (malformedRequest and "
                            "unauthorized are OCSP statuses, still HTTP 200)"
                        }
                    },
                }
            },
            "/api/v1/ocsp/{encoded}": {
                "get": {
                    "summary": "RFC 6960 A.1 GET form: the URL-encoded base64 of the DER request",
                    "parameters": [{"name": "encoded", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "application/ocsp-response (cacheable)"}},
                }
            },
            # -- trust lists between regions (trustsvc.federation.trust_lists, trustsvc.federation.peers) --
            "/api/v1/trust-list": {
                "get": {
                    "summary": "This region's signed trust list (CMS SignedData, SM2/SM3, over canonical JSON: roots, "
                    "CAs, trust-list, status-list and code signers, issuers with their licence types, "
                    "status-list and OCSP URLs)",
                    "parameters": [
                        {
                            "name": "format",
                            "in": "query",
                            "schema": {"type": "string", "enum": ["der", "json"], "default": "der"},
                        },
                        {"name": "If-None-Match", "in": "header", "schema": {"type": "string"}},
                    ],
                    "responses": {
                        "200": {
                            "description": "application/cms (DER), or a JSON summary; ETag = SHA-256 of "
                            "the DER, Cache-Control max-age until it is re-signed"
                        },
                        "304": {"description": "not modified (If-None-Match matched)"},
                        "422": _err("invalid format"),
                    },
                }
            },
            "/api/v1/trust/peers": {
                "get": {
                    "summary": "Peer regions imported by pin: list sequence, freshness (stale after "
                    "next_update + grace), last refresh outcome, status lists held",
                    "security": _AUTH,
                    "responses": {"200": {"description": "list"}, "403": _err("not an admin key")},
                },
                "post": {
                    "summary": "Import a peer region's trust list by pin (SHA-256 of its root CA certificate)",
                    "security": _AUTH,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["url", "pin"],
                                    "properties": {
                                        "url": {
                                            "type": "string",
                                            "description": "the peer's trust-list URL "
                                            "(a bare base URL gets "
                                            "/api/v1/trust-list)",
                                        },
                                        "pin": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": {"description": "imported"},
                        "200": {"description": "already held (updated or unchanged)"},
                        "403": _err("not an admin key"),
                        "422": _err(
                            "refused: trust_list_pin_mismatch, trust_list_signer_untrusted, "
                            "trust_list_signer_not_announced, trust_list_rollback, "
                            "trust_list_equivocation, trust_list_stale, trust_list_invalid, "
                            "trust_list_bad_signature, trust_list_unreachable, invalid_pin, "
                            "peer_is_self; the list claims what another anchor holds: "
                            "trust_list_issuer_invalid, trust_list_issuer_is_local, "
                            "trust_list_issuer_held_by_peer, "
                            "trust_list_issuer_outside_region, "
                            "trust_list_ca_key_collision"
                        ),
                        "429": _err("peer_operations_busy: too many imports or refreshes at once"),
                        "504": _err(
                            "peer_fetch_timeout: the peer did not deliver within "
                            "[trust] fetch_timeout (connect, headers and body)"
                        ),
                    },
                },
            },
            "/api/v1/trust/refresh": {
                "post": {
                    "summary": "Refresh every peer's trust list and its issuers' status lists now (peers "
                    "concurrently, each within [trust] peer_budget)",
                    "security": _AUTH,
                    "responses": {
                        "200": {"description": "each peer's outcome"},
                        "403": _err("not an admin key"),
                        "429": _err("peer_operations_busy"),
                    },
                }
            },
            **holder_paths(),
            **lifecycle_paths(),
        },
    }


@bp.get("/openapi.json")
def openapi_json() -> Response:
    from trustsvc.licences.catalogue import catalogue_for
    from trustsvc.pki import region_code_or_blank

    from .request import service

    db = service().db
    return jsonify(spec(catalogue_for(region_code_or_blank(db), db)))
