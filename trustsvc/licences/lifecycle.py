"""Request bodies of the lifecycle operations that make a new version (变更 change, 延续 renew),
shared by the API and the CLI so both refuse the same input with the same codes.

``change``: ``{"fields": {...}, "holder_name": "..."}`` (at least one; fields are merged over
the current ones and validated against the licence type by the service).
``renew``: ``{"valid_until": "YYYY-MM-DD" | null, "valid_from": "YYYY-MM-DD"}`` (``valid_until``
required; null means no end, 长期).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidInputError

__all__ = ["ChangeRequest", "RenewRequest", "change_from_json", "renew_from_json"]

_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


@dataclass(frozen=True)
class ChangeRequest:
    fields: Mapping[str, Any] = field(default_factory=dict)
    holder_name: str | None = None


@dataclass(frozen=True)
class RenewRequest:
    valid_until: dt.date | None
    """None: no end (长期)."""
    valid_from: dt.date | None = None
    """None: the renewal date."""


def _object(data: Any, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise InvalidInputError("the request must be a JSON object", code="invalid_request")
    unknown = sorted(str(k) for k in data if k not in allowed)
    if unknown:
        raise InvalidInputError(f"unknown keys: {', '.join(unknown)}", code="unknown_field", field=unknown[0])
    return data


def _date(value: Any, name: str) -> dt.date:
    if not isinstance(value, str) or not _DATE.match(value):
        raise InvalidInputError(f"{name} must be a date YYYY-MM-DD", code="invalid_date", field=name)
    try:
        parsed = dt.date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInputError(f"{name} is not a calendar date", code="invalid_date", field=name) from exc
    if not 1949 <= parsed.year <= 2199:
        raise InvalidInputError(f"{name} must lie in 1949..2199", code="invalid_date", field=name)
    return parsed


def change_from_json(data: Any) -> ChangeRequest:
    """The change body; refuses an empty change (it would only copy the licence)."""
    body = _object(data, {"fields", "holder_name"})
    fields = body.get("fields", {})
    if not isinstance(fields, Mapping):
        raise InvalidInputError("fields must be a JSON object", code="invalid_fields", field="fields")
    holder_name = body.get("holder_name")
    if holder_name is not None and (not isinstance(holder_name, str) or not holder_name.strip()):
        raise InvalidInputError("holder_name must be a non-empty string", code="invalid_field", field="holder_name")
    if not fields and holder_name is None:
        raise InvalidInputError("say what changes: fields and/or holder_name", code="nothing_to_change", field="fields")
    return ChangeRequest(fields=dict(fields), holder_name=holder_name)


def renew_from_json(data: Any) -> RenewRequest:
    body = _object(data, {"valid_until", "valid_from"})
    if "valid_until" not in body:
        raise InvalidInputError("valid_until is required (null for no end)", code="missing_field", field="valid_until")
    until = body["valid_until"]
    start = body.get("valid_from")
    return RenewRequest(
        valid_until=None if until is None else _date(until, "valid_until"),
        valid_from=None if start is None else _date(start, "valid_from"),
    )
