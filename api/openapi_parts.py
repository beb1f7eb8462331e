"""Builders for the OpenAPI document (``api/openapi.py`` and the blueprints' own paths), so each
operation is written as what differs — summary, parameters, body, answers — and what every
operation shares is written once: the error shape, the key a keyed operation needs, the
refusals of the one signing-key check, and the rate limits' 429.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "AUTH",
    "ERROR_CODES",
    "RATE_LIMITED",
    "SIGNER_REFUSALS",
    "error",
    "json_body",
    "operation",
    "with_shared_answers",
]

AUTH: list[dict[str, list[str]]] = [{"bearer": []}]
_ERROR = {"$ref": "#/components/schemas/Error"}
_RETRY_AFTER = {
    "Retry-After": {"description": "seconds until a request is admitted again", "schema": {"type": "integer"}}
}

SIGNER_REFUSALS = (
    "the key that would sign may not sign now: signer_certificate_revoked, signer_certificate_expired, "
    "signer_certificate_not_yet_valid, signer_issuer_revoked, signer_issuer_expired, signer_key_missing"
)
"""The 409s of :mod:`trustsvc.signing_keys`, which every signing operation may answer."""

RATE_LIMITED = (
    "rate_limited: over a rate limit ([limits]: verifications per address or key, the TSA, failed "
    "authentications per key id and per address — the latter refuse every request presenting a key)"
)

ERROR_CODES: dict[str, tuple[int, str]] = {
    "malformed_json": (400, "the body is not JSON (the message says where parsing failed), or uses NaN/Infinity"),
    "malformed_request": (400, "the body is not what the operation reads (not a JSON object, wrong content type)"),
    "json_too_deep": (400, "arrays and objects nested deeper than [server] max_json_depth"),
    "unauthenticated": (401, "no key, a malformed, wrong or revoked key"),
    "forbidden": (403, "the key's role or scope does not allow it (operations name the precise code)"),
    "payload_too_large": (413, "a body over [server] max_request_bytes, or a JSON body over max_json_bytes"),
    "invalid_input": (422, "a field is invalid (`field` names it; `errors` lists every problem found)"),
    "invalid_text": (422, "a lone UTF-16 surrogate in a text (`field` names where)"),
    "number_out_of_range": (422, "an integer beyond 64 bits or a number beyond a double"),
    "presentation_too_large": (422, "the chosen fields do not fit one QR code"),
    "signer_certificate_revoked": (409, "the certificate that would sign is revoked"),
    "signer_certificate_expired": (409, "the certificate that would sign has expired"),
    "signer_certificate_not_yet_valid": (409, "the certificate that would sign is not valid yet"),
    "signer_issuer_revoked": (409, "a CA above the signing certificate is revoked"),
    "signer_issuer_expired": (409, "a CA above the signing certificate has expired"),
    "signer_key_missing": (409, "the signing certificate's key is not held here"),
    "seal_suspended": (409, "the seal is suspended (挂失)"),
    "seal_revoked": (409, "the seal is revoked (注销)"),
    "rate_limited": (429, "over a rate limit; Retry-After says when to come back"),
    "peer_operations_busy": (429, "too many peer imports or refreshes at once; Retry-After"),
    "trust_list_unreachable": (422, "the peer did not answer or refused"),
    "peer_fetch_timeout": (504, "the peer did not deliver within [trust] fetch_timeout"),
}
"""Error codes many operations share (each operation names its own as well). Not exhaustive:
clients must accept codes not listed here."""


def error(description: str) -> dict[str, Any]:
    """An error answer: ``{"error": {"code", "message", ...}}``; ``description`` names the codes."""
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


def json_body(
    properties: Mapping[str, Any] | None = None,
    required: Sequence[str] = (),
    *,
    schema: Mapping[str, Any] | None = None,
    optional: bool = False,
) -> dict[str, Any]:
    """A JSON request body: an object with ``properties`` (``required`` among them), or ``schema``."""
    if schema is None:
        schema = {"type": "object", "required": list(required), "properties": dict(properties or {})}
    return {"required": not optional, "content": {"application/json": {"schema": dict(schema)}}}


def _answer(status: str, value: str | Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(value, str):
        return dict(value)
    return error(value) if int(status) >= 400 else {"description": value}


def operation(
    summary: str,
    responses: Mapping[str, str | Mapping[str, Any]],
    *,
    auth: bool | None = True,
    parameters: Iterable[Mapping[str, Any]] = (),
    body: Mapping[str, Any] | None = None,
    signs: bool = False,
) -> dict[str, Any]:
    """One operation. ``responses``: status → a description (an error answer from 400 on) or a
    whole response object. ``auth``: True needs a key (401 documented), None takes one
    optionally, False is public. ``signs``: it signs with a key of this service, so it may be
    refused by the signing-key check (409)."""
    answers = {status: _answer(status, value) for status, value in responses.items()}
    op: dict[str, Any] = {"summary": summary}
    if auth is not None and auth:
        op["security"] = AUTH
        answers.setdefault("401", error("unauthenticated: no or bad key"))
    elif auth is None:
        op["security"] = [{}, {"bearer": []}]
        answers.setdefault("401", error("unauthenticated: a bad API key"))
    params = [dict(p) for p in parameters]
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = dict(body)
    if signs:
        own = answers.get("409", {}).get("description")
        answers["409"] = error(f"{own}; or {SIGNER_REFUSALS}" if own else SIGNER_REFUSALS)
    op["responses"] = answers
    return op


def with_shared_answers(paths: Mapping[str, Mapping[str, Any]], *, not_limited: Iterable[str] = ()) -> dict[str, Any]:
    """``paths`` with what every operation may answer: a 401 where it takes a key, and a 429
    (the error shape and ``Retry-After``) everywhere, since a client presenting a key can reach
    the failed-authentication limits anywhere. An operation's own 429 (``peer_operations_busy``)
    is kept and the limits added to it. ``not_limited``: paths that never answer 429 (OCSP
    answers tryLater instead)."""
    skip = set(not_limited)
    out: dict[str, Any] = {}
    for path, ops in paths.items():
        out[path] = {}
        for method, op in ops.items():
            op = dict(op)
            responses = dict(op.get("responses", {}))
            if op.get("security"):
                responses.setdefault("401", error("unauthenticated: no or bad key"))
            if path not in skip:
                own = responses.get("429", {}).get("description")
                responses["429"] = {
                    **error(f"{own}; or {RATE_LIMITED}" if own else RATE_LIMITED),
                    "headers": _RETRY_AFTER,
                }
            op["responses"] = responses
            out[path][method] = op
    return out
