{%- set server = {"gunicorn": "Gunicorn", "both": "Gunicorn", "granian": "Granian"} -%}
"""Prometheus metrics at /metrics: requests by route and status, latency, requests in flight.
{%- if cookiecutter.server == "waitress" %}

Waitress serves from one process, so the plain registry holds every count (with
PROMETHEUS_MULTIPROC_DIR set, the files there are added up at scrape time instead).
{%- else %}

Every {{ server[cookiecutter.server] }} worker is its own process; prometheus_client's multiprocess mode
adds them up at scrape time from files in PROMETHEUS_MULTIPROC_DIR, which the launcher
creates empty at every start (service/launch.py).
{%- endif %}
{%- if cookiecutter.server == "both" %} Under Waitress (one process) the plain
registry is used.
{%- endif %}
"""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, Response, abort, current_app, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Metric,
    generate_latest,
    multiprocess,
)
from werkzeug.exceptions import HTTPException

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

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
# Where /metrics answers (app.py keeps CORS off them).
PATHS = ("/metrics", "/metrics/")


def init_app(app: Flask) -> None:
    """Serve /metrics to METRICS_ALLOW_IPS; app.py wraps the app in Counted."""
    app.config["METRICS_ALLOW_IPS"] = frozenset(app.config["SETTINGS"].metrics_allow_ips)
    app.register_blueprint(bp)


class Counted:
    """WSGI middleware counting every request, preflights answered before Flask included,
    by its route's pattern: never the raw path, so unknown paths make no new series."""

    def __init__(self, app: WSGIApplication, flask_app: Flask) -> None:
        self.app = app
        self.url_map = flask_app.url_map

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        started, status = time.perf_counter(), "500"

        def respond(answer: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            nonlocal status
            status = answer
            return start_response(answer, headers, exc_info)

        IN_FLIGHT.inc()
        try:
            return self.app(environ, respond)
        finally:
            IN_FLIGHT.dec()
            method, route = environ.get("REQUEST_METHOD", ""), self.route(environ)
            REQUESTS.labels(method, route, status[:3]).inc()
            LATENCY.labels(method, route).observe(time.perf_counter() - started)

    def route(self, environ: WSGIEnvironment) -> str:
        try:
            rule, _ = self.url_map.bind_to_environ(environ).match(return_rule=True)
        except HTTPException:
            return "unmatched"
        return rule.rule


@bp.get("/metrics")
def metrics() -> Response:
    allowed = current_app.config["METRICS_ALLOW_IPS"]
    if allowed and request.remote_addr not in allowed:
        abort(403)
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        registry.register(WorkerFiles(os.environ["PROMETHEUS_MULTIPROC_DIR"]))
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


class WorkerFiles:
    """The workers' metric files added up, as prometheus_client's MultiProcessCollector
    does, less any file a worker has created but not yet sized: read in that moment, it
    fails the whole scrape, and every scrape after it if the worker dies then
    (https://github.com/prometheus/client_python/issues/1199). tests/test_metrics.py
    fails once prometheus_client reads such a file itself."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def collect(self) -> Iterable[Metric]:
        files = glob.glob(os.path.join(self.directory, "*.db"))
        sized = [path for path in files if os.path.getsize(path) > 0]
        return multiprocess.MultiProcessCollector.merge(sized, accumulate=True)
