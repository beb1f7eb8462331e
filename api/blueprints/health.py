"""``/healthz`` (provider, self-test, database) and ``/metrics``."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from hsm import get_provider

from ..metrics import metrics_response
from ..request import service

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    svc = service()
    db_status: dict[str, object] = {"backend": svc.db.dialect}
    try:
        svc.db.ping()
        db_status["ok"] = True
        db_status["schema_current"] = svc.db.schema_is_current()
    except Exception as exc:  # report, never raise: health must answer
        db_status["ok"] = False
        db_status["error"] = type(exc).__name__
    provider = get_provider()
    healthy = svc.self_test.passed and bool(db_status["ok"]) and bool(db_status.get("schema_current"))
    body = {
        "status": "ok" if healthy else "unavailable",
        "region": svc.config.region.code if svc.config.region else None,
        "provider": {"name": provider.name, "version": provider.version},
        "self_test": svc.self_test.as_dict(),
        "database": db_status,
        "keystore": svc.config.hsm.backend,
    }
    return jsonify(body), 200 if healthy else 503


@bp.get("/metrics")
def metrics() -> Response:
    return metrics_response()
