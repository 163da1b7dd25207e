"""/metrics: Prometheus text with request counts, not readable cross-origin, allow-listed."""

import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from prometheus_client import CollectorRegistry, generate_latest, multiprocess
from prometheus_client.parser import text_string_to_metric_families

from app import create_app
from tests.conftest import ALLOWED_ORIGIN, TEST_ENVIRON


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text format (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return found.value
    return 0.0


def test_requests_are_counted_by_route_and_status(client: FlaskClient) -> None:
    labels = {"method": "GET", "route": "/api/hello", "status": "200"}
    before = sample(client.get("/metrics").get_data(as_text=True), "http_requests_total", **labels)
    for _ in range(3):
        client.get("/api/hello")
    client.get("/no/such/page")
    text = client.get("/metrics").get_data(as_text=True)
    assert sample(text, "http_requests_total", **labels) == before + 3
    assert sample(text, "http_requests_total", method="GET", route="unmatched", status="404") >= 1
    assert "http_request_duration_seconds_bucket" in text
    assert "http_requests_in_flight" in text


def test_metrics_are_not_readable_cross_origin(client: FlaskClient) -> None:
    response = client.get("/metrics", headers={"Origin": ALLOWED_ORIGIN})
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert "Access-Control-Allow-Origin" not in response.headers


def test_metrics_can_be_limited_to_an_allow_list() -> None:
    environ = {**TEST_ENVIRON, "METRICS_ALLOW_IPS": "10.0.0.5"}
    client = create_app({"TESTING": True}, environ=environ).test_client()
    assert client.get("/metrics").status_code == 403
    allowed = client.get("/metrics", environ_base={"REMOTE_ADDR": "10.0.0.5"})
    assert allowed.status_code == 200


def write_worker_file(directory: Path) -> None:
    """What a worker leaves in PROMETHEUS_MULTIPROC_DIR: a counter `jobs` at 3."""
    script = "from prometheus_client import Counter; Counter('jobs', 'Jobs.').inc(3)"
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=30)


def test_prometheus_client_still_fails_on_a_worker_file_not_yet_sized(tmp_path: Path) -> None:
    """prometheus/client_python#1199: while this passes, service/metrics.py's
    WorkerFiles stays; once it fails, use MultiProcessCollector again."""
    write_worker_file(tmp_path)
    (tmp_path / "counter_999.db").touch()  # created by a worker, not yet sized
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(tmp_path))
    with pytest.raises(struct.error):
        generate_latest(registry)


def test_a_scrape_skips_a_worker_file_not_yet_sized(
    client: FlaskClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_worker_file(tmp_path)
    (tmp_path / "counter_999.db").touch()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    response = client.get("/metrics")
    assert response.status_code == 200
    assert sample(response.get_data(as_text=True), "jobs_total") == 3
