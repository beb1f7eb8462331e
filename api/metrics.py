"""Prometheus metrics. Under gunicorn (PROMETHEUS_MULTIPROC_DIR set) every worker's samples are
merged at ``/metrics``; in a single process the default registry is served."""

from __future__ import annotations

import os
import time

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

__all__ = ["init_metrics", "metrics_response", "SELF_TEST_PASSED", "RATE_LIMITED"]

REQUESTS = Counter("trustsvc_http_requests_total", "HTTP requests", ["method", "endpoint", "status"])
LATENCY = Histogram(
    "trustsvc_http_request_seconds",
    "HTTP request latency",
    ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
RATE_LIMITED = Counter(
    "trustsvc_http_rate_limited_total", "Requests refused with 429 by a rate limit", ["endpoint", "limit"]
)
SELF_TEST_PASSED = Gauge(
    "trustsvc_self_test_passed", "1 when the SM2/SM3 known-answer self-test passed", multiprocess_mode="min"
)


def init_metrics(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        g._t0 = time.perf_counter()

    @app.after_request
    def _count(resp: Response) -> Response:
        endpoint = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
        REQUESTS.labels(request.method, endpoint, str(resp.status_code)).inc()
        t0 = g.get("_t0")
        if t0 is not None:
            LATENCY.labels(endpoint).observe(time.perf_counter() - t0)
        return resp


def metrics_response() -> Response:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        data = generate_latest(registry)
    else:
        data = generate_latest()
    return Response(data, mimetype=CONTENT_TYPE_LATEST)
