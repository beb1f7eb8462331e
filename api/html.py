"""Errors and headers for HTML pages: the same status and machine code the JSON API would give
(each error class declares its ``http_status``), rendered as a page instead of ``{"error": …}``."""

from __future__ import annotations

import logging

from flask import Response, make_response, render_template
from werkzeug.exceptions import HTTPException

from hsm.errors import TrustSvcError

__all__ = [
    "status_for",
    "error_page",
    "domain_error_page",
    "http_error_page",
    "page_headers",
    "content_security_policy",
]

log = logging.getLogger("trustsvc.api")

_CSP = (
    "default-src 'self'; script-src {scripts}; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def content_security_policy(*, scripts: bool = False, wasm: bool = False) -> str:
    """The pages' policy: no inline script or style ever; scripts, where a page has any, only
    from this origin, and WebAssembly compiled (``'wasm-unsafe-eval'``, not ``'unsafe-eval'``)
    only where the page needs the vendored QR decoder."""
    sources = "'none'" if not scripts else "'self' 'wasm-unsafe-eval'" if wasm else "'self'"
    return _CSP.format(scripts=sources)


def status_for(exc: TrustSvcError) -> int:
    return exc.http_status


def error_page(status: int, code: str, message: str) -> Response:
    resp = make_response(render_template("page_error.html", status=status, code=code, message=message), status)
    return page_headers(resp, private=True)


def domain_error_page(exc: TrustSvcError) -> Response:
    status = status_for(exc)
    if status >= 500:
        log.error("%s: %s", exc.code, exc.message)
        return error_page(
            status, exc.code if status != 500 else "internal_error", "the service cannot complete this request now"
        )
    return error_page(status, exc.code, exc.message)


def http_error_page(exc: HTTPException) -> Response:
    status = exc.code or 500
    return error_page(status, (exc.name or "http_error").lower().replace(" ", "_"), exc.description or "")


def page_headers(resp: Response, *, private: bool, scripts: bool = False, wasm: bool = False) -> Response:
    """No inline scripts (none at all unless ``scripts``), no framing (the console's buttons
    cannot be click-jacked), no caching of private pages, and no referrer carrying a licence
    identifier elsewhere."""
    resp.headers.setdefault("Content-Security-Policy", content_security_policy(scripts=scripts, wasm=wasm))
    resp.headers.setdefault("X-Frame-Options", "DENY")
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Referrer-Policy", "no-referrer")
    resp.headers["Cache-Control"] = "no-store" if private else "no-cache"
    return resp
