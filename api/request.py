"""Request parsing helpers shared by the blueprints."""

from __future__ import annotations

from typing import Any

from flask import current_app, request

from trustsvc.context import TrustService
from trustsvc.errors import InvalidInputError, MalformedRequestError

__all__ = ["service", "json_object", "string_field", "read_upload"]


def service() -> TrustService:
    return current_app.extensions["trustsvc"]  # type: ignore[no-any-return]


def json_object() -> dict[str, Any]:
    """The request body as a JSON object, or a 400 ``malformed_request``."""
    if not request.is_json:
        raise MalformedRequestError("send a JSON body with Content-Type: application/json")
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise MalformedRequestError("the body must be a JSON object")
    return data


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
