"""Request parsing helpers shared by the blueprints."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from flask import Request, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from trustsvc.context import TrustService
from trustsvc.errors import InvalidInputError, MalformedRequestError

__all__ = ["service", "json_body", "json_object", "parse_json", "ApiRequest", "string_field", "read_upload"]


def service() -> TrustService:
    return current_app.extensions["trustsvc"]  # type: ignore[no-any-return]


def json_body() -> Any:
    """The request body parsed as JSON (any value), so a client that sent broken JSON learns
    where it broke rather than only that its body was refused.

    :raises MalformedRequestError: 400 ``malformed_request`` for an empty body, else as
        :func:`parse_json`.
    """
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise MalformedRequestError("the body is empty: send a JSON object")
    return parse_json(raw)


_SURROGATE = re.compile(r"[\ud800-\udfff]")
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_MAX_INT = 2**63
"""Integers beyond a signed 64-bit one are refused: no field needs them, and a database column
or a date computed from one would overflow."""


def parse_json(raw: bytes | str) -> Any:
    """Parse a JSON request body within bounds: its size and nesting are checked *before* the
    parser runs (so its recursion never depends on the client), numbers must fit 64 bits (or be
    finite), and text must be valid Unicode: an escaped lone surrogate (``"\\ud800"``) would
    fail later, wherever the text is encoded (database, audit log, PDF, the answer itself).

    :raises RequestEntityTooLarge: 413 above ``[server] max_json_bytes``.
    :raises MalformedRequestError: 400 ``json_too_deep`` beyond ``[server] max_json_depth``,
        ``malformed_json`` (saying where) when it is not JSON.
    :raises InvalidInputError: 422 ``invalid_text`` for a lone surrogate, ``number_out_of_range``.
    """
    limits = service().config.server
    if len(raw) > limits.max_json_bytes:
        raise RequestEntityTooLarge(
            f"the JSON body is larger than {limits.max_json_bytes} bytes ([server] max_json_bytes)"
        )
    if isinstance(raw, bytes):
        try:  # UTF-8, or UTF-16/32 by its BOM-less form, as json.loads would
            text = raw.decode(json.detect_encoding(raw))
        except UnicodeDecodeError as exc:
            raise MalformedRequestError(
                f"the body is not valid JSON: it is not UTF-8 text (byte {exc.start})", code="malformed_json"
            ) from None
    else:
        text = raw
    if _nesting_exceeds(text, limits.max_json_depth):
        raise MalformedRequestError(
            f"the JSON body is nested deeper than {limits.max_json_depth} levels ([server] max_json_depth)",
            code="json_too_deep",
        )
    try:
        value = json.loads(text, parse_int=_bounded_int, parse_float=_finite_float, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise MalformedRequestError(
            f"the body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno} (character {exc.pos})",
            code="malformed_json",
        ) from None
    except InvalidInputError:
        raise
    except (ValueError, RecursionError):  # a backstop: the depth check comes first
        raise MalformedRequestError("the body is not acceptable JSON", code="malformed_json") from None
    if _ESCAPED_SURROGATE.search(text):
        where = _surrogate_at(value, "")
        if where is not None:
            raise InvalidInputError(
                f"{where or 'the body'} holds a lone UTF-16 surrogate (\\ud800-\\udfff): text must be valid Unicode",
                code="invalid_text",
                field=where or None,
            )
    return value


def _nesting_exceeds(text: str, limit: int) -> bool:
    """Whether arrays and objects nest deeper than ``limit`` (strings skipped: escaped
    backslashes and quotes are dropped first, then every other quote opens or closes one).
    Exact for valid JSON; on invalid JSON the parser stops at the first error in any case."""
    if text.count("[") + text.count("{") <= limit:
        return False
    outside = "".join(text.replace("\\\\", "").replace('\\"', "").split('"')[0::2])
    depth = 0
    for ch in _NOT_BRACKET.sub("", outside):
        if ch in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _bounded_int(text: str) -> int:
    value = int(text) if len(text) <= 20 else _MAX_INT  # no 4,300-digit conversion to find out
    if not -_MAX_INT <= value < _MAX_INT:
        raise InvalidInputError("a number in the body is beyond 64-bit integers", code="number_out_of_range")
    return value


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InvalidInputError("a number in the body is beyond the range of a double", code="number_out_of_range")
    return value


def _no_constant(name: str) -> Any:
    raise MalformedRequestError(f"the body is not valid JSON: {name} is not a JSON value", code="malformed_json")


def _safe(text: str) -> str:
    """``text`` fit to be shown back (surrogates written as escapes)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _surrogate_at(value: Any, path: str) -> str | None:
    """Where in ``value`` a lone surrogate is (a dotted path, "" for the body itself), or None."""
    if isinstance(value, str):
        return path if _SURROGATE.search(value) else None
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = _surrogate_at(item, f"{path}[{i}]")
            if found is not None:
                return found
    elif isinstance(value, dict):
        for key, item in value.items():
            key_path = f"{path}.{_safe(key)}" if path else _safe(key)
            if _SURROGATE.search(key):
                return key_path
            found = _surrogate_at(item, key_path)
            if found is not None:
                return found
    return None


class ApiRequest(Request):
    """Flask's request whose ``get_json`` goes through :func:`parse_json`, so every JSON body
    the app reads is bounded and checked the same way (even with ``silent=True``)."""

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        if not (force or self.is_json):
            return None if silent else self.on_json_loading_failed(None)
        return parse_json(self.get_data(cache=cache))


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
        raise InvalidInputError(
            f"{name} must be a non-empty string of at most {max_len} characters", code="invalid_field", field=name
        )
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
