"""Request limits: the body size (413) and in-process token buckets (429 with ``Retry-After``).

Why in process: no new infrastructure. Each gunicorn worker keeps its own buckets, so the
configured figures (``[limits]``, :class:`trustsvc.config.LimitsConfig`) hold per worker. Keys:
the client address as the worker sees it (``request.remote_addr``: behind a reverse proxy that
is the proxy, so put the limits there too, or give each proxy its own budget), and the API
key's id for keyed verifications.

Limited here, as ``before_request`` / ``after_request`` hooks so no view needs to know:

* ``POST /api/v1/verify`` and the ``POST /verify`` page: per address without a key, per key
  with one (checked after the key authenticates);
* authentication: every failed one (401 to a request that presented ``Authorization``, or a
  refused console sign-in) takes a token from the address's bucket; once it is empty, every
  request from that address presenting a key, and every console sign-in, gets 429 until a
  token has refilled, so guessing keys is slow whatever the guess.
"""

from __future__ import annotations

import io
import math
import threading
import time
from dataclasses import dataclass

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from trustsvc.config import LimitsConfig
from trustsvc.errors import RateLimitedError

from .auth import current_principal
from .html import domain_error_page

__all__ = ["TokenBucket", "Limits", "init_limits", "VERIFY_ENDPOINTS", "SIGN_IN_ENDPOINT"]

VERIFY_ENDPOINTS = frozenset({"verify.verify", "verify_page.submit"})
SIGN_IN_ENDPOINT = "console.login"
_MAX_TRACKED = 50_000
"""Buckets kept per limiter; beyond it the full (idle) ones are forgotten first."""


class TokenBucket:
    """``burst`` tokens per key, refilled at ``per_minute``; thread-safe. ``per_minute = 0``
    means unlimited."""

    def __init__(self, per_minute: int, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(max(1, burst))
        self._lock = threading.Lock()
        self._state: dict[str, tuple[float, float]] = {}

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def _level(self, key: str, now: float) -> float:
        tokens, last = self._state.get(key, (self.burst, now))
        return min(self.burst, tokens + (now - last) * self.rate)

    def _wait(self, level: float) -> int:
        return max(1, math.ceil((1.0 - level) / self.rate))

    def take(self, key: str, now: float | None = None) -> int:
        """Take a token: 0 when one was there, else the seconds until one will be."""
        if not self.enabled:
            return 0
        now = time.monotonic() if now is None else now
        with self._lock:
            level = self._level(key, now)
            if level < 1.0:
                self._state[key] = (level, now)
                return self._wait(level)
            self._state[key] = (level - 1.0, now)
            self._prune(now)
            return 0

    def waiting(self, key: str, now: float | None = None) -> int:
        """Seconds until a token is there (0: one is there now); takes nothing."""
        if not self.enabled:
            return 0
        now = time.monotonic() if now is None else now
        with self._lock:
            level = self._level(key, now)
        return 0 if level >= 1.0 else self._wait(level)

    def _prune(self, now: float) -> None:
        if len(self._state) <= _MAX_TRACKED:
            return
        for key in [k for k in self._state if self._level(k, now) >= self.burst]:
            del self._state[key]
        while len(self._state) > _MAX_TRACKED:  # all busy: forget the oldest
            del self._state[min(self._state, key=lambda k: self._state[k][1])]


@dataclass(frozen=True)
class Limits:
    verify_by_address: TokenBucket
    verify_by_key: TokenBucket
    auth_failures: TokenBucket

    @classmethod
    def from_config(cls, cfg: LimitsConfig) -> Limits:
        return cls(TokenBucket(cfg.verify_per_minute, cfg.verify_burst),
                   TokenBucket(cfg.verify_key_per_minute, cfg.verify_key_burst),
                   TokenBucket(cfg.auth_failures_per_minute, cfg.auth_failures_burst))


def _limits() -> Limits:
    return current_app.extensions["trustsvc.limits"]  # type: ignore[no-any-return]


def _address() -> str:
    return request.remote_addr or "-"


def _refuse(exc: RateLimitedError) -> Response | None:
    """Pages get an HTML 429, the API the JSON error (raised to ``api/errors.py``)."""
    if request.path.startswith("/api/"):
        raise exc
    resp = domain_error_page(exc)
    resp.headers["Retry-After"] = str(exc.retry_after)
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


def _before() -> Response | None:
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit is not None:
        if request.content_length is not None and request.content_length > limit:
            # Refused before any view runs, also where the view would not read the body.
            raise RequestEntityTooLarge(f"the request body is larger than {limit} bytes ([server] max_request_bytes)")
        if (request.content_length is None and "wsgi.input_terminated" in request.environ
                and request.method not in ("GET", "HEAD", "OPTIONS")):
            _buffer_unsized_body(limit)
    limits = _limits()
    signing_in = request.endpoint == SIGN_IN_ENDPOINT and request.method == "POST"
    if "Authorization" in request.headers or signing_in:
        wait = limits.auth_failures.waiting(_address())
        if wait:
            return _refuse(RateLimitedError(
                "too many failed authentications from this address; try again later", retry_after=wait))
    if request.endpoint in VERIFY_ENDPOINTS and request.method == "POST":
        if request.endpoint == "verify.verify" and "Authorization" in request.headers:
            key_id = current_principal().key_id  # a bad key is a 401 (and a failure) first
            wait = limits.verify_by_key.take(f"key:{key_id}")
        else:
            wait = limits.verify_by_address.take(_address())
        if wait:
            return _refuse(RateLimitedError("too many verifications; try again later", retry_after=wait))
    return None


def _after(resp: Response) -> Response:
    failed_key = resp.status_code == 401 and "Authorization" in request.headers
    failed_sign_in = (request.endpoint == SIGN_IN_ENDPOINT and request.method == "POST"
                      and resp.status_code == 401)
    if failed_key or failed_sign_in:
        _limits().auth_failures.take(_address())
    return resp


def init_limits(app: Flask, cfg: LimitsConfig) -> None:
    app.extensions["trustsvc.limits"] = Limits.from_config(cfg)
    app.before_request(_before)
    app.after_request(_after)
