"""Request parsing helpers shared by the blueprints."""

from __future__ import annotations

import json
from typing import Any

from flask import current_app, request

from trustsvc.context import TrustService
from trustsvc.errors import InvalidInputError, MalformedRequestError

__all__ = ["service", "json_body", "json_object", "string_field", "read_upload"]


def service() -> TrustService:
    return current_app.extensions["trustsvc"]  # type: ignore[no-any-return]


def json_body() -> Any:
    """The request body parsed as JSON (any value), so a client that sent broken JSON learns
    where it broke rather than only that its body was refused.

    :raises MalformedRequestError: 400 ``malformed_request`` for an empty body, 400
        ``malformed_json`` naming line, column and character of the first error otherwise.
    """
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise MalformedRequestError("the body is empty: send a JSON object")
    try:
        return json.loads(raw)  # as Flask's get_json: bytes, UTF-8 (or UTF-16/32 by its BOM-less form)
    except json.JSONDecodeError as exc:
        raise MalformedRequestError(
            f"the body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno} "
            f"(character {exc.pos})", code="malformed_json") from None
    except UnicodeDecodeError as exc:
        raise MalformedRequestError(f"the body is not valid JSON: it is not UTF-8 text (byte {exc.start})",
                                    code="malformed_json") from None
    except RecursionError:
        raise MalformedRequestError("the body is not acceptable JSON: it is nested too deeply",
                                    code="malformed_json") from None


def json_object() -> dict[str, Any]:
    """The request body as a JSON object: 400 ``malformed_request`` when it is not JSON-typed or
    is valid JSON of another kind, 400 ``malformed_json`` (with where) when it does not parse."""
    if not request.is_json:
        raise MalformedRequestError("send a JSON body with Content-Type: application/json")
    data = json_body()
    if not isinstance(data, dict):
        raise MalformedRequestError(f"the body must be a JSON object, not {_json_kind(data)}")
    return data


def _json_kind(value: Any) -> str:
    """The JSON name of ``value``'s type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def string_field(data: dict[str, Any], name: str, *, required: bool = True, max_len: int = 500) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            raise InvalidInputError(f"{name} is required", code="missing_field", field=name)
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise InvalidInputError(f"{name} must be a non-empty string of at most {max_len} characters",
                                code="invalid_field", field=name)
    return value.strip()


def read_upload(name: str) -> bytes | None:
    """Bytes of multipart file ``name`` (None when absent); closes the spooled temp file at once
    rather than leaving it to garbage collection."""
    upload = request.files.get(name)
    if upload is None:
        return None
    try:
        return upload.read()
    finally:
        upload.close()
