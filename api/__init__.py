"""api: the Flask app factory. The only package that imports Flask.

``create_app(config=…)`` opens the service (self-test first: a failing self-test means no app
at all); tests pass an already-open ``service``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from trustsvc.config import Config, load_config
from trustsvc.context import TrustService, open_service

from .errors import register_error_handlers
from .metrics import SELF_TEST_PASSED, init_metrics
from .request import ApiRequest

__all__ = ["create_app"]

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def create_app(config: Config | None = None, *, service: TrustService | None = None, **overrides: Any) -> Flask:
    """Build the app around an open :class:`TrustService`."""
    if service is None:
        service = open_service(config or load_config(), migrate=False)
    app = Flask(__name__, template_folder=str(TEMPLATES))
    app.request_class = ApiRequest  # every JSON body bounded and checked before it is parsed
    if service.config.server.proxy_hops:
        # The client address (request.remote_addr, and so every per-address rate limit) from
        # X-Forwarded-For, trusting only the entries the configured proxies appended.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=service.config.server.proxy_hops)  # type: ignore[method-assign]
    app.config.update(
        MAX_CONTENT_LENGTH=service.config.server.max_request_bytes,
        JSON_SORT_KEYS=False,
        **overrides,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions["trustsvc"] = service
    SELF_TEST_PASSED.set(1 if service.self_test.passed else 0)

    register_error_handlers(app)
    init_metrics(app)
    from .limits import init_limits

    region = service.config.region.code if service.config.region is not None else "-"
    init_limits(app, service.config.limits, key_prefix=f"trustsvc/{region}")  # 413 before any view; then 429s

    from .blueprints import admin, health, licences, pages, pki, seals, tsa, verify

    app.register_blueprint(health.bp)
    app.register_blueprint(pki.bp, url_prefix="/api/v1")
    app.register_blueprint(admin.bp, url_prefix="/api/v1")
    app.register_blueprint(seals.bp, url_prefix="/api/v1")
    from .blueprints import lifecycle

    app.register_blueprint(lifecycle.bp, url_prefix="/api/v1")
    app.register_blueprint(licences.bp, url_prefix="/api/v1")
    from .blueprints import codes as codes_bp

    app.register_blueprint(codes_bp.bp, url_prefix="/api/v1")
    from .blueprints import holder as holder_bp

    app.register_blueprint(holder_bp.bp, url_prefix="/api/v1")
    from .blueprints import verify_page

    app.register_blueprint(verify_page.bp)
    app.register_blueprint(verify.bp, url_prefix="/api/v1")
    app.register_blueprint(tsa.bp, url_prefix="/api/v1")
    from .blueprints import status as status_bp

    app.register_blueprint(status_bp.bp, url_prefix="/api/v1")
    from .blueprints import trust_lists as trust_lists_bp

    app.register_blueprint(trust_lists_bp.bp, url_prefix="/api/v1")
    app.register_blueprint(pages.bp)
    from .blueprints import (
        console,
        console_dashboard,  # noqa: F401  adds /console (the dashboard) to console.bp
        licence_pages,
    )

    console.init_console(app, service)
    app.register_blueprint(console.bp)
    app.register_blueprint(licence_pages.bp)

    from .openapi import bp as openapi_bp

    app.register_blueprint(openapi_bp, url_prefix="/api/v1")
    return app
