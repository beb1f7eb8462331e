"""E-licences over HTTP: the type catalogue, issuance (idempotent), lookup and lifecycle."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, jsonify, request

from trustsvc.apikeys import Role
from trustsvc.errors import InvalidInputError, NotFoundError
from trustsvc.licences import operations
from trustsvc.licences.catalogue import catalogue_for, find_type, resolve_type, type_codes_of
from trustsvc.licences.files import FILE_FORMATS, licence_file
from trustsvc.licences.lifecycle import change_from_json, renew_from_json
from trustsvc.licences.listing import MAX_LIMIT, list_licences
from trustsvc.licences.service import (
    get_licence,
    reinstate_licence,
    request_from_json,
    revoke_licence,
    suspend_licence,
)
from trustsvc.licences.type_store import add_licence_type, read_type_versions
from trustsvc.pki import region_code_or_blank
from trustsvc.storage.models import LicenceRecord
from trustsvc.times import iso_utc

from ..auth import current_principal, require_role
from ..catalogue_json import catalogue_document
from ..request import json_object, service, string_field
from ..shapes import licence_json

bp = Blueprint("licences", __name__)


@bp.get("/licence-types")
def licence_types() -> Response:
    """Every current type with its fields (label, constraints) and its request body's JSON Schema."""
    db = service().db
    types = catalogue_for(region_code_or_blank(db), db)
    return catalogue_document("licence-types", types, lambda: [t.api_dict() for t in types])


@bp.get("/licence-types/<code>")
def licence_type(code: str) -> Response:
    """One type (``?version=N``: as it was at version N, which licences issued then render with)
    and the list of its versions."""
    raw = request.args.get("version")
    version = None
    if raw is not None:
        if not raw.isdigit() or not 0 < int(raw) < 1000:
            raise InvalidInputError("version is a number 1..999", code="invalid_field", field="version")
        version = int(raw)
    db = service().db
    region_code = region_code_or_blank(db)
    ltype = resolve_type(region_code, code, db)
    if version is not None:
        ltype = find_type(region_code, ltype.code, db, version=version)
        if ltype.version != version:
            raise NotFoundError(f"licence type {code} has no version {version}", code="licence_type_version_not_found")
    versions = [
        {"version": v.version, "origin": v.origin, "created_at": iso_utc(v.created_at), "digest": v.digest}
        for v in read_type_versions(db, ltype.code)
    ]
    return jsonify(
        {
            **ltype.api_dict(),
            "definition": json.loads(ltype.definition),
            "template": ltype.template,
            "versions": versions,
        }
    )


@bp.post("/licence-types")
@require_role(Role.ADMIN)
def add_type() -> tuple[Response, int]:
    """Add a type, or a new version of one (``extends``: change only the keys given); 201 with the
    type as recorded, 200 when the definition is the current one already."""
    data = json_object()
    template = data.pop("template", None)
    if template is not None and not isinstance(template, str):
        raise InvalidInputError("template is the type's short name", code="invalid_field", field="template")
    ltype, added = add_licence_type(service().db, data, template=template, actor=current_principal().actor)
    resp = jsonify({**ltype.api_dict(), "template": ltype.template})
    resp.headers["Location"] = f"/api/v1/licence-types/{ltype.code}?version={ltype.version}"
    return resp, 201 if added else 200


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
        raise InvalidInputError(
            "an admin key must say which department issues (department)", code="department_required", field="department"
        )
    issued = operations.issue(
        service(),
        request_from_json(data),
        actor=principal,
        department_uscc=department,
        idempotency_key=request.headers.get("Idempotency-Key"),
    )
    resp = jsonify(licence_json(issued.record))
    if issued.replayed:
        return resp, 200
    resp.headers["Location"] = _location(issued.record)
    return resp, 201


MAX_BATCH_LICENCES = 1000


@bp.post("/licences:batch")
@require_role(Role.ISSUER)
def issue_batch() -> Response:
    """Up to 1,000 licences in one request (``{"licences": [...]}``, each the body of POST
    /licences plus optional ``key``, ``id`` and ``issued_on`` as in ``trustsvc licence import``).
    Each is answered in ``results`` by its index: created, replayed (its key was done) or its
    errors; a bad one never stops the others. Their files are made on first download."""
    from trustsvc.licences.bulk import RowError, import_rows

    principal = current_principal()
    data = json_object()
    licences = data.get("licences")
    if not isinstance(licences, list) or not 1 <= len(licences) <= MAX_BATCH_LICENCES:
        raise InvalidInputError(
            f"licences is a list of 1..{MAX_BATCH_LICENCES} licence bodies", code="invalid_batch", field="licences"
        )
    department = principal.department_uscc
    if principal.role is Role.ADMIN:
        department = string_field(data, "department", max_len=18)
    rows = []
    for i, body in enumerate(licences):
        if isinstance(body, dict) and "department" in body:
            body = {k: v for k, v in body.items() if k != "department"}  # the key's department, or the body's
        rows.append((i, body))
    refused: list[RowError] = []
    if principal.role is not Role.ADMIN:
        rows = _allowed_rows(rows, set(principal.licence_types), refused)
    report = import_rows(service(), rows, actor=principal.actor, department=department, keep_identifiers=True)
    results: list[dict[str, Any]] = [{"index": i, "status": "error", "errors": []} for i in range(len(licences))]
    for e in [*refused, *report.errors]:
        results[e.row]["errors"].append({"field": e.field, "code": e.code, "message": e.message})
    for n, ident, replayed in report.identifiers:
        results[n] = {"index": n, "status": "replayed" if replayed else "created", "id": ident}
    return jsonify(
        {
            "created": report.issued,
            "replayed": report.skipped,
            "failed": len(licences) - report.issued - report.skipped,
            "results": results,
        }
    )


def _allowed_rows(rows: list[tuple[int, Any]], allowed: set[str], refused: list[Any]) -> list[tuple[int, Any]]:
    """The rows of the types an issuer key may issue; each other one gets its own error."""
    from trustsvc.licences.bulk import RowError

    wanted = [body.get("type") if isinstance(body, dict) else None for _, body in rows]
    codes = type_codes_of(service().db, [w if isinstance(w, str) else None for w in wanted])
    kept = []
    for (i, body), code in zip(rows, codes):  # None: the row's own check says what is wrong
        if code is not None and code not in allowed:
            refused.append(
                RowError(i, "type", "licence_type_not_allowed", f"this key may not issue licence type {code}")
            )
            continue
        kept.append((i, body))
    return kept


def _location(row: LicenceRecord) -> str:
    """Where a 201's new licence (or version) lives, for the ``Location`` header."""
    return f"/api/v1/licences/{row.identifier}"


def requested_file_type() -> str:
    """The media type a licence file request asks for: ``?format=pdf|ofd``, else the ``Accept``
    header (``application/ofd`` or ``application/pdf``), else PDF."""
    fmt = request.args.get("format")
    if fmt is not None:
        if fmt.lower() not in FILE_FORMATS:
            raise InvalidInputError(
                f"format is one of {', '.join(FILE_FORMATS)}", code="invalid_format", field="format"
            )
        return FILE_FORMATS[fmt.lower()]
    pdf, ofd = FILE_FORMATS["pdf"], FILE_FORMATS["ofd"]
    if request.accept_mimetypes[ofd] > request.accept_mimetypes[pdf]:
        return ofd
    return pdf


@bp.get("/licences/<identifier>/file")
@require_role(Role.ISSUER, Role.VERIFIER)
def file(identifier: str) -> Response:
    """The sealed licence PDF or OFD (made on first request), with its SHA-256 as ETag."""
    found = licence_file(service(), identifier, principal=current_principal(), media_type=requested_file_type())
    resp = Response(found.content, mimetype=found.media_type)
    resp.headers["Content-Disposition"] = f'attachment; filename="{found.filename}"'
    resp.headers["Cache-Control"] = "private, no-cache"
    resp.set_etag(found.sha256)
    resp.make_conditional(request)  # If-None-Match: 304 (changes resp in place)
    return resp


@bp.get("/licences")
@require_role(Role.ISSUER)
def list_() -> Response:
    """One page of the caller's licences (an admin's: all, or ``department``'s), newest first."""
    args = request.args
    limit_text = args.get("limit", "50")
    if not limit_text.isdigit() or len(limit_text) > 4:
        raise InvalidInputError(f"limit must be 1..{MAX_LIMIT}", code="invalid_limit", field="limit")
    page = list_licences(
        service(),
        current_principal(),
        status=args.get("status") or None,
        type_code=args.get("type") or None,
        q=args.get("q") or None,
        department_uscc=args.get("department") or None,
        limit=int(limit_text),
        cursor=args.get("cursor") or None,
    )
    return jsonify({"items": [licence_json(r) for r in page.items], "next_cursor": page.next_cursor})


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


# -- new versions (变更 / 延续): 201 with the new version; the old one is superseded -----------


def _new_version(issued: operations.Issued) -> tuple[Response, int]:
    resp = jsonify(licence_json(issued.record))  # a new version is an issuance: it has its own sealed PDF
    resp.headers["Location"] = _location(issued.record)
    return resp, 201


@bp.post("/licences/<identifier>/change")
@require_role(Role.ISSUER)
def change(identifier: str) -> tuple[Response, int]:
    body = change_from_json(json_object())
    return _new_version(
        operations.change(
            service(), identifier, actor=current_principal(), fields=body.fields, holder_name=body.holder_name
        )
    )


@bp.post("/licences/<identifier>/renew")
@require_role(Role.ISSUER)
def renew(identifier: str) -> tuple[Response, int]:
    body = renew_from_json(json_object())
    return _new_version(
        operations.renew(
            service(), identifier, actor=current_principal(), valid_until=body.valid_until, valid_from=body.valid_from
        )
    )
