"""The one place where errors become HTTP: ``{"error": {"code", "message"}}`` with a 4xx/5xx.

Internal errors never echo their text; domain errors carry messages written to be shown.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from hsm.errors import HSMError, TrustSvcError
from trustsvc.errors import (
    AuditChainError,
    ConfigurationError,
    RateLimitedError,
)

__all__ = ["register_error_handlers", "error_response"]

log = logging.getLogger("trustsvc.api")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "rate_limited",
}


def error_response(status: int, code: str, message: str, **extra: object) -> Response:
    body: dict[str, object] = {"code": code, "message": message}
    body.update(extra)
    resp = jsonify({"error": body})
    resp.status_code = status
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="trustsvc"'
    return resp


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(TrustSvcError)
    def _domain(exc: TrustSvcError) -> Response:
        status = exc.http_status  # each class declares it (trustsvc/errors.py, ca/errors.py, hsm/errors.py)
        if status >= 500:
            log.error("%s: %s", exc.code, exc.message)
            if isinstance(exc, (ConfigurationError, HSMError, AuditChainError)):
                return error_response(status, exc.code, "the service cannot complete this request now")
        field = getattr(exc, "field", None)
        extra: dict[str, object] = {"field": field} if isinstance(field, str) and field else {}
        problems = getattr(exc, "problems", ())
        if problems:
            extra["errors"] = [p.as_dict() for p in problems]
        resp = error_response(status, exc.code, exc.message, **extra)
        if isinstance(exc, RateLimitedError):
            resp.headers["Retry-After"] = str(exc.retry_after)
        return resp

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        status = exc.code or 500
        return error_response(status, _HTTP_CODES.get(status, "http_error"), exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error")
        return error_response(500, "internal_error", "internal error")
