"""Prometheus metrics at /metrics: requests by route and status, latency, requests in flight.

Every Gunicorn worker is its own process; prometheus_client's multiprocess mode adds
them up at scrape time from files in PROMETHEUS_MULTIPROC_DIR, which gunicorn.conf.py
creates empty at every start. Under Waitress (one process) the plain registry is used.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping

from flask import Blueprint, Flask, Response, abort, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from service.config import METRICS_DEFAULTS, addresses, read_environment

REQUESTS = Counter(
    "http_requests_total", "Requests answered, by route and status.", ["method", "route", "status"]
)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time to answer a request, by route.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
# livesum: the sum over the workers that are alive now.
IN_FLIGHT = Gauge(
    "http_requests_in_flight", "Requests being answered now.", multiprocess_mode="livesum"
)

bp = Blueprint("metrics", __name__)


def init_app(app: Flask, environ: Mapping[str, str | None] | None = None) -> None:
    """Count every request, and serve /metrics to METRICS_ALLOW_IPS (from `environ`)."""
    allowed = addresses(read_environment(METRICS_DEFAULTS, environ), "METRICS_ALLOW_IPS")
    app.config["METRICS_ALLOW_IPS"] = frozenset(allowed)
    app.before_request(start_timer)
    app.after_request(record)
    app.teardown_request(finish)
    app.register_blueprint(bp)


def start_timer() -> None:
    g.metrics_started = time.perf_counter()
    IN_FLIGHT.inc()


def record(response: Response) -> Response:
    # The route's pattern, never the raw path: unknown paths must not create new series.
    route = request.url_rule.rule if request.url_rule else "unmatched"
    REQUESTS.labels(request.method, route, str(response.status_code)).inc()
    if "metrics_started" in g:
        LATENCY.labels(request.method, route).observe(time.perf_counter() - g.metrics_started)
    return response


def finish(_error: BaseException | None) -> None:
    # Teardown runs even when a response could not be built, so the gauge never drifts.
    if g.pop("metrics_started", None) is not None:
        IN_FLIGHT.dec()


@bp.get("/metrics")
def metrics() -> Response:
    allowed = current_app.config["METRICS_ALLOW_IPS"]
    if allowed and request.remote_addr not in allowed:
        abort(403)
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
