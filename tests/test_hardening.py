"""Bad input and secure defaults, checked against the real launchers, responses in full."""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import FAULT_LAUNCHERS, Launched, Response, launch_process, raw_request

ALLOWED = "http://allowed.example"
SECRET = "hardening-test-secret-key-never-to-be-logged"  # noqa: S105 (a test value)
SECURITY_HEADERS = ("X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy")


@pytest.fixture(params=FAULT_LAUNCHERS, scope="module")
def server(
    request: pytest.FixtureRequest,
    fault_projects: Callable[[str], Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Launched]:
    """Each launcher once per module, with the debugger asked for and a known key."""
    launched = launch_process(
        fault_projects(request.param),
        FAULT_LAUNCHERS[request.param][1],
        tmp_path_factory.mktemp("hardening") / "server.log",
        WORKERS="2",
        CORS_ORIGINS=ALLOWED,
        SECRET_KEY=SECRET,
        FLASK_DEBUG="1",
        LOG_LEVEL="DEBUG",
        MAX_CONTENT_LENGTH="1024",
    )
    try:
        launched.wait_healthy(seconds=15)
        yield launched
    finally:
        launched.stop()


def send(server: Launched, method: str, path: str, body: bytes = b"", **headers: str) -> Response:
    return raw_request(server.port, method, path, body, **headers)


ERRORS = {
    "malformed-json": ("POST", "/api/echo", b"{oops", 400),
    "body-too-large": ("POST", "/api/echo", b"[" + b"1," * 1500 + b"1]", 413),
    "unknown-route": ("GET", "/no/such/route", b"", 404),
    "wrong-method": ("DELETE", "/api/hello", b"", 405),
    "raised-exception": ("GET", "/test/boom", b"", 500),
}


@pytest.mark.parametrize("case", ERRORS)
def test_errors_are_json_with_cors_headers_and_no_internals(server: Launched, case: str) -> None:
    method, path, body, expected = ERRORS[case]
    status, headers, raw = send(
        server, method, path, body, Origin=ALLOWED, **{"Content-Type": "application/json"}
    )
    assert status == expected
    assert headers["Content-Type"] == "application/json"
    body = json.loads(raw)
    assert set(body) == {"status", "error", "message"}
    assert body["status"] == expected
    assert headers["Access-Control-Allow-Origin"] == ALLOWED
    for name in SECURITY_HEADERS:
        assert name in headers
    for leak in (b"Traceback", b"<html", b"deliberate failure", b"Werkzeug Debugger"):
        assert leak not in raw


@pytest.mark.parametrize(
    ("what", "path", "headers"),
    [
        ("request line", "/" + "a" * 20_000, {}),
        ("header", "/healthz", {"X-Huge": "b" * 300_000}),
    ],
)
def test_over_long_requests_get_a_4xx_and_leave_the_service_unharmed(
    server: Launched, what: str, path: str, headers: dict[str, str]
) -> None:
    try:
        status = send(server, "GET", path, **headers)[0]
    except (ConnectionError, http.client.RemoteDisconnected):
        status = None  # refused by closing: acceptable, but only with a 4xx or nothing
    print(f"over-long {what}: {status}")
    assert status is None or 400 <= status < 500, f"over-long {what} got {status}"
    assert send(server, "GET", "/healthz")[0] == 200


@pytest.mark.parametrize("origin", ["http://evil.example", "null", ALLOWED + ".evil.example"])
def test_refused_origins_get_no_cors_headers(server: Launched, origin: str) -> None:
    preflight = send(
        server,
        "OPTIONS",
        "/api/hello",
        Origin=origin,
        **{
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    actual = send(server, "GET", "/api/hello", Origin=origin)
    for _, headers, _ in (preflight, actual):
        assert "Access-Control-Allow-Origin" not in headers
        assert "Access-Control-Allow-Credentials" not in headers


def test_debugger_is_never_active(server: Launched) -> None:
    status, headers, raw = send(server, "GET", "/?__debugger__=yes&cmd=resource&f=debugger.js")
    assert status == 404
    assert headers["Content-Type"] == "application/json"
    assert b"debugger" not in raw.lower()
    output = server.wait_for_output("FLASK_DEBUG is ignored")
    assert "development server" not in output
    assert "Debugger PIN" not in output


def test_secret_key_is_never_logged(server: Launched) -> None:
    send(server, "GET", "/test/boom")
    send(server, "POST", "/api/echo", b"{", **{"Content-Type": "application/json"})
    send(server, "GET", "/healthz", **{"X-Request-ID": "secret-test-done"})
    output = server.wait_for_output("secret-test-done")
    assert "Exception on /test/boom" in output, "the error was not logged at all"
    assert SECRET not in output


@pytest.mark.parametrize("launcher", FAULT_LAUNCHERS)
@pytest.mark.parametrize(
    ("trusted", "expected"), [("127.0.0.1", True), ("10.0.0.9, 127.0.0.1", True), ("", False)]
)
def test_hsts_only_when_a_trusted_proxy_says_https(
    launch_fault_app: Callable[..., Launched], launcher: str, trusted: str, expected: bool
) -> None:
    server = launch_fault_app(launcher, WORKERS="1", FORWARDED_ALLOW_IPS=trusted)
    server.wait_healthy(seconds=15)
    headers = send(
        server,
        "GET",
        "/healthz",
        **{"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"},
    )[1]
    assert ("Strict-Transport-Security" in headers) is expected
    assert "Strict-Transport-Security" not in send(server, "GET", "/healthz")[1]
