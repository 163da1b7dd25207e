"""deploy/nginx.conf: valid for nginx, and a real nginx in front of a baked service holds
the burst, shields it from slow clients, and gives its own errors CORS headers."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import (
    Burst,
    Launched,
    Response,
    finish_burst,
    free_port,
    raw_request,
    require_tool,
    run,
    slow_client_bound,
    slowest_request_among_slow_clients,
)

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
ALLOWED = "http://localhost:5173"  # the template's default CORS origin
REFUSED = "http://refused.example"
# The smallest http {} around the generated site file, with every path in a temp dir.
# Workers run as root because the temp dir is private to this user.
WRAPPER = """\
user root;
worker_processes 1;
worker_rlimit_nofile 8192;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {site};
}}
"""


@pytest.fixture(autouse=True)
def nginx_installed() -> None:
    """Every test here runs nginx: skipped without it, failed under CI."""
    require_tool(os.access(NGINX, os.X_OK), "nginx", "apt-get install nginx-light")


@dataclass
class Nginx:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def site_file(project: Path, prefix: Path, listen: int, upstream: int, **overrides: str) -> Path:
    """The project's deploy/nginx.conf with only its ports (and `overrides`) changed."""
    text = (project / "deploy" / "nginx.conf").read_text()
    text = text.replace("listen 80;", f"listen 127.0.0.1:{listen};")
    text = re.sub(r"server 127\.0\.0\.1:\d+;", f"server 127.0.0.1:{upstream};", text)
    for directive, value in overrides.items():
        text = re.sub(rf"{directive} [^;]+;", f"{directive} {value};", text)
    site = prefix / "site.conf"
    site.write_text(text)
    return site


def write_config(project: Path, prefix: Path, listen: int, upstream: int, **overrides: str) -> Path:
    prefix.mkdir(parents=True, exist_ok=True)
    site = site_file(project, prefix, listen, upstream, **overrides)
    config = prefix / "nginx.conf"
    config.write_text(WRAPPER.format(prefix=prefix, site=site))
    return config


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Callable[..., Nginx]]:
    """Start nginx with a project's site file in front of `upstream`; always stopped."""
    started: list[subprocess.Popen[bytes]] = []

    def start(project: Path, upstream: int, **overrides: str) -> Nginx:
        port = free_port()
        prefix = tmp_path / f"nginx-{len(started)}"
        config = write_config(project, prefix, port, upstream, **overrides)
        with (prefix / "stderr.log").open("wb") as stderr:
            process = subprocess.Popen(
                [NGINX, "-p", str(prefix), "-c", str(config), "-g", "daemon off;"],
                stderr=stderr,
                start_new_session=True,
            )
        started.append(process)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return Nginx(port, process)
            except OSError:
                assert process.poll() is None, (prefix / "stderr.log").read_text()
                time.sleep(0.05)
        pytest.fail("nginx did not start listening within 5 s")

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGQUIT)  # graceful
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.mark.parametrize(
    "answers",
    [
        {},
        {"cors_allow_credentials": True, "cors_origins": "https://a.example, https://b.example"},
        {"cors_origins": "*"},
        {"server": "waitress", "port": "9000"},
    ],
    ids=["defaults", "credentials-two-origins", "any-origin", "waitress"],
)
def test_generated_config_passes_nginx_t(cookies, tmp_path: Path, answers: dict) -> None:
    result = cookies.bake(extra_context={"include_nginx": True, **answers})
    assert result.exit_code == 0, result.exception
    project = Path(result.project_path)
    config = write_config(project, tmp_path / "t", listen=free_port(), upstream=8080)
    checked = run([NGINX, "-t", "-p", str(tmp_path / "t"), "-c", str(config)], tmp_path)
    assert checked.returncode == 0, checked.stderr


@pytest.fixture(params=["gunicorn", "granian"])
def service(request: pytest.FixtureRequest, launch_fault_app: Callable[..., Launched]) -> Launched:
    """The fault app behind each nginx test, under Gunicorn (gthread) and Granian."""
    # FORWARDED_ALLOW_IPS=127.0.0.1 (the default): nginx on this host is trusted.
    server = launch_fault_app(request.param, WORKERS="2", CORS_ORIGINS=ALLOWED)
    server.wait_healthy(seconds=15)
    return server


def test_burst_through_nginx_loses_nothing(
    service: Launched, nginx: Callable[..., Nginx], burst: Callable[..., Burst]
) -> None:
    proxy = nginx(service.project, service.port)
    summary = finish_burst(
        burst(service.project, proxy.url + "/test/slow?seconds=0.05", pages=100, parallel=8)
    )
    print(f"nginx burst: {summary['requests']} requests, {summary['failed_pairs']} failed pairs")
    assert summary["failed_pairs"] == 0, summary
    assert summary["requests"] == 1600


def test_service_sees_the_client_through_nginx_but_not_forged_headers(
    service: Launched, nginx: Callable[..., Nginx]
) -> None:
    proxy = nginx(service.project, service.port)
    forged = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    # Through nginx: the address nginx saw (its own X-Forwarded-For entry), not the forged one.
    via_nginx = json.loads(
        raw_request(proxy.port, "GET", "/test/whoami", source="127.0.0.5", **forged)[2]
    )
    assert via_nginx == {"address": "127.0.0.5", "scheme": "http"}
    # Straight to the service from an untrusted peer: forwarded headers are ignored.
    direct = json.loads(
        raw_request(service.port, "GET", "/test/whoami", source="127.0.0.7", **forged)[2]
    )
    assert direct == {"address": "127.0.0.7", "scheme": "http"}
    # From the trusted proxy address they count.
    trusted = json.loads(raw_request(service.port, "GET", "/test/whoami", **forged)[2])
    assert trusted == {"address": "203.0.113.7", "scheme": "https"}


def assert_proxy_error(response: Response, status: int, origin: str) -> None:
    code, headers, body = response
    assert code == status
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body)["status"] == status
    if origin == ALLOWED:
        assert headers["Access-Control-Allow-Origin"] == ALLOWED
    else:
        assert "Access-Control-Allow-Origin" not in headers


@pytest.mark.parametrize("origin", [ALLOWED, REFUSED])
def test_nginx_errors_are_json_with_cors_for_allowed_origins(
    service: Launched, nginx: Callable[..., Nginx], origin: str
) -> None:
    proxy = nginx(service.project, service.port, proxy_read_timeout="1s")
    too_big = raw_request(proxy.port, "POST", "/api/echo", b"x" * 2_000_000, Origin=origin)
    assert_proxy_error(too_big, 413, origin)
    slow = raw_request(proxy.port, "GET", "/test/slow?seconds=3", Origin=origin)
    assert_proxy_error(slow, 504, origin)
    down = nginx(service.project, free_port())  # nothing listens upstream
    assert_proxy_error(raw_request(down.port, "GET", "/api/hello", Origin=origin), 502, origin)


def test_nginx_shields_the_service_from_slow_clients(
    service: Launched, nginx: Callable[..., Nginx]
) -> None:
    """The case Gunicorn's gthread cannot be trusted to hold alone (see SLOW_CASES in
    test_faults.py): 300 clients trickling headers. nginx holds them, and a normal
    request still answers about as fast as through nginx without them."""
    proxy = nginx(service.project, service.port)
    reference = slowest_request_among_slow_clients(proxy.port, clients=0, kind="idle")
    slowest = slowest_request_among_slow_clients(proxy.port, clients=300, kind="trickle")
    bound = slow_client_bound(reference)
    print(
        f"slow clients through nginx: slowest request {slowest:.3f} s, {reference:.3f} s "
        f"without them, bound {bound:.2f} s"
    )
    assert slowest < bound
