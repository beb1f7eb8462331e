"""Request limits: the body size (413) and rate limits (429 with ``Retry-After``) by
Flask-Limiter.

The counts live where ``[limits] storage_url`` says (:class:`trustsvc.config.LimitsConfig`):
in each process's memory by default, or in one Redis that every gunicorn worker and every host
serving the region share, so N workers or hosts do not allow N times the figures. Should Redis
become unreachable, each process counts in memory until it is back (rather than failing
requests or dropping the limits). Each limit allows ``burst`` requests in any window of
``burst / per_minute`` minutes (the moving-window strategy), so the long-run rate is
``per_minute``.

Keys: the client address (``request.remote_addr``: the connection's, or with ``[server]
proxy_hops`` set the one the trusted proxies put in ``X-Forwarded-For``), the API key's id for
keyed verifications, and for failed authentications the presented key id *and* the address.
Every limit is application-wide and checked before any view runs, so no view needs to know:

* ``POST /api/v1/verify`` and the ``POST /verify`` page: one budget per address without a key;
  per key with one (once the key authenticates);
* failed authentications (401 to a request that presented ``Authorization``, or a refused
  console sign-in): counted per (address, presented key id) and per address. When one key id's
  failures are used up, that key id gets 429 from that address, while other keys behind the
  same proxy keep working; when the address's are used up (many invented key ids), every
  request from it presenting a key, and every console sign-in, gets 429;
* ``POST /api/v1/tsa`` and ``/api/v1/ocsp`` (GET and POST): per address (unauthenticated, and a
  signature each). Over its limit an OCSP client gets an OCSP ``tryLater`` response, not a 429.

Every refusal (429, and OCSP's tryLater) is counted in ``trustsvc_http_rate_limited_total``
(``/metrics``) by endpoint and limit.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable

from flask import Flask, Response, current_app, g, request
from flask_limiter import ApplicationLimit, Limiter, RateLimitExceeded
from werkzeug.exceptions import RequestEntityTooLarge

from trustsvc.apikeys import presented_key_id
from trustsvc.config import LimitsConfig
from trustsvc.errors import RateLimitedError
from trustsvc.ocsp import OCSP_RESPONSE_MEDIA_TYPE, try_later_response

from .auth import current_principal
from .errors import error_response
from .html import domain_error_page
from .metrics import RATE_LIMITED

__all__ = ["init_limits", "window", "VERIFY_ENDPOINTS", "SIGN_IN_ENDPOINT", "TSA_ENDPOINTS", "OCSP_ENDPOINTS"]

VERIFY_ENDPOINTS = frozenset({"verify.verify", "verify_page.submit"})
SIGN_IN_ENDPOINT = "console.login"
TSA_ENDPOINTS = frozenset({"tsa.timestamp"})
OCSP_ENDPOINTS = frozenset({"status.ocsp_post", "status.ocsp_get"})
_REDIS_OPTIONS: dict[str, str | int] = {"socket_connect_timeout": 1, "socket_timeout": 1}
"""A slow or unreachable Redis costs a request at most about a second before memory takes over."""


def window(per_minute: int, burst: int) -> str:
    """The Flask-Limiter limit string for a rate and a burst: ``burst`` in any window of
    ``burst / per_minute`` minutes; "" (no limit) for a rate of 0."""
    if per_minute <= 0:
        return ""
    burst = max(1, burst)
    return f"{burst} per {max(1, math.ceil(burst * 60 / per_minute))} second"


def _address() -> str:
    return request.remote_addr or "-"


def _signing_in() -> bool:
    return request.endpoint == SIGN_IN_ENDPOINT and request.method == "POST"


def _presents_key() -> bool:
    return "Authorization" in request.headers or _signing_in()


def _presented_key() -> str:
    """The key id the request presents (a header or the sign-in form), as far as it can be read:
    never the secret, and only the public id's characters, so no client chooses storage keys."""
    if _signing_in():
        token = request.form.get("api_key", "")
    else:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            token = ""
    return presented_key_id(token) or "(unreadable)"


def _verifying_key() -> str | None:
    """The authenticated key id of a keyed ``POST /api/v1/verify``; None for any other request,
    and for a key that does not authenticate (the view answers 401, counted as a failure)."""
    if request.endpoint != "verify.verify" or "Authorization" not in request.headers:
        return None
    if "_verifying_key" not in g:
        try:
            g._verifying_key = current_principal().key_id
        except Exception:  # the view raises it again and answers for it
            g._verifying_key = None
    return g._verifying_key  # type: ignore[no-any-return]


def _unauthorised(resp: Response) -> bool:
    return resp.status_code == 401


def _only(endpoints: frozenset[str], *, post_only: bool = False) -> Callable[[], bool]:
    def exempt() -> bool:
        return request.endpoint not in endpoints or (post_only and request.method != "POST")

    return exempt


def _limits(cfg: LimitsConfig) -> list[str | Callable[[], str] | ApplicationLimit]:
    verify_exempt = _only(VERIFY_ENDPOINTS, post_only=True)
    return [
        ApplicationLimit(
            window(cfg.verify_per_minute, cfg.verify_burst),
            key_function=_address,
            scope="verify-address",
            error_message="too many verifications; try again later",
            exempt_when=lambda: verify_exempt() or _verifying_key() is not None,
        ),
        ApplicationLimit(
            window(cfg.verify_key_per_minute, cfg.verify_key_burst),
            key_function=lambda: _verifying_key() or "-",
            scope="verify-key",
            error_message="too many verifications with this key; try again later",
            exempt_when=lambda: verify_exempt() or _verifying_key() is None,
        ),
        ApplicationLimit(
            window(cfg.auth_failures_per_minute, cfg.auth_failures_burst),
            key_function=lambda: f"{_address()}|{_presented_key()}",
            scope="auth-failures-key",
            error_message="too many failed authentications with this key id from this address; try again later",
            exempt_when=lambda: not _presents_key(),
            deduct_when=_unauthorised,
        ),
        ApplicationLimit(
            window(cfg.auth_failures_address_per_minute, cfg.auth_failures_address_burst),
            key_function=_address,
            scope="auth-failures-address",
            error_message="too many failed authentications from this address; try again later",
            exempt_when=lambda: not _presents_key(),
            deduct_when=_unauthorised,
        ),
        ApplicationLimit(
            window(cfg.tsa_per_minute, cfg.tsa_burst),
            key_function=_address,
            scope="tsa",
            error_message="too many time-stamp requests; try again later",
            exempt_when=_only(TSA_ENDPOINTS),
        ),
        ApplicationLimit(
            window(cfg.ocsp_per_minute, cfg.ocsp_burst),
            key_function=_address,
            scope="ocsp",
            error_message="too many OCSP requests; try again later",
            exempt_when=_only(OCSP_ENDPOINTS),
        ),
    ]


def _retry_after(limiter: Limiter) -> int:
    """Seconds until the breached limit admits a request again (at least 1)."""
    breached = limiter.current_limit
    try:
        reset = breached.window[0] if breached is not None else time.time() + 60
    except Exception:  # the store failed just now: a minute is a fair guess
        reset = time.time() + 60
    return max(1, math.ceil(reset - time.time()))


def _refuse(exc: RateLimitExceeded) -> Response:
    """Pages get an HTML 429, the API the JSON error, OCSP clients an OCSP ``tryLater`` answer
    (HTTP 200, as every OCSP answer: a client reads the OCSP status, not the HTTP one); all say
    when to come back (``Retry-After``) and are counted as 429s."""
    limiter: Limiter = current_app.extensions["trustsvc.limiter"]
    wait = _retry_after(limiter)
    scope = exc.limit.scope if isinstance(exc.limit.scope, str) else "-"
    RATE_LIMITED.labels(request.url_rule.rule if request.url_rule is not None else "<unmatched>", scope).inc()
    message = exc.description or "too many requests; try again later"
    if request.endpoint in OCSP_ENDPOINTS:
        resp = Response(try_later_response(), mimetype=OCSP_RESPONSE_MEDIA_TYPE)
        resp.cache_control.no_store = True
    elif request.path.startswith("/api/"):
        resp = error_response(429, "rate_limited", message)
    else:
        resp = domain_error_page(RateLimitedError(message, retry_after=wait))
    resp.headers["Retry-After"] = str(wait)
    return resp


def _buffer_unsized_body(limit: int) -> None:
    """A body without Content-Length (chunked; gunicorn sets ``wsgi.input_terminated``) is read
    here, up to ``limit`` + 1 bytes: Werkzeug would cut it at the limit *silently*, so a view
    would verify or seal a truncated document. Over the limit it is a 413 like any other."""
    stream = request.environ["wsgi.input"]
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = stream.read(min(65536, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise RequestEntityTooLarge(f"the request body is larger than {limit} bytes ([server] max_request_bytes)")
    request.environ["wsgi.input"] = io.BytesIO(b"".join(chunks))
    request.environ["CONTENT_LENGTH"] = str(size)


def _limit_body() -> None:
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit is None:
        return
    if request.content_length is not None and request.content_length > limit:
        # Refused before any view runs, also where the view would not read the body.
        raise RequestEntityTooLarge(f"the request body is larger than {limit} bytes ([server] max_request_bytes)")
    if (
        request.content_length is None
        and "wsgi.input_terminated" in request.environ
        and request.method not in ("GET", "HEAD", "OPTIONS")
    ):
        _buffer_unsized_body(limit)


def init_limits(app: Flask, cfg: LimitsConfig, *, key_prefix: str = "trustsvc") -> Limiter:
    """The body-size check, then the rate limits (in that order: an oversized body is refused
    before a sign-in form is read for its key id).

    :param key_prefix: names this region's counts in a shared store (several regions may share
        one Redis).
    """
    app.before_request(_limit_body)
    limits = _limits(cfg)
    limiter = Limiter(
        _address,
        application_limits=limits,
        storage_uri=cfg.storage_url or "memory://",
        storage_options=_REDIS_OPTIONS if cfg.storage_url.startswith("redis") else {},
        strategy="moving-window",
        key_prefix=key_prefix,
        headers_enabled=False,
        in_memory_fallback_enabled=True,
        swallow_errors=True,
    )
    limiter.init_app(app)
    # A request no limit applies to (an anonymous verification when [limits] verify_per_minute
    # is 0, every GET but OCSP's) skips Flask-Limiter's per-request work, about 0.1 ms of CPU:
    # on the verify hot path that is a sixth of the request. Every limit here is an application
    # limit with an exemption; a route-level @limiter.limit would need this filter widened.
    applied = [lim for lim in limits if isinstance(lim, ApplicationLimit) and lim.limit_provider]
    exemptions = [lim.exempt_when for lim in applied if lim.exempt_when is not None]
    if len(exemptions) == len(applied):
        limiter.request_filter(lambda: all(exempt() for exempt in exemptions))
    app.extensions["trustsvc.limiter"] = limiter
    app.register_error_handler(RateLimitExceeded, _refuse)
    return limiter
