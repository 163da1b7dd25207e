"""What service/middleware.py adds to every request: its ID, its headers, its access-log line."""

import json
import logging
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask, Response, session
from flask.testing import FlaskClient

from service import logs
from service.middleware import Middleware, response_headers
from service.settings import load_settings
from tests.conftest import ALLOWED_ORIGIN, TEST_ENVIRON

NEW_ID = re.compile(r"[0-9a-f]{32}")


def test_a_plain_request_id_is_kept(client: FlaskClient) -> None:
    response = client.get("/api/hello", headers={"X-Request-ID": "trace-42"})
    assert response.headers["X-Request-ID"] == "trace-42"


@pytest.mark.parametrize("hostile", ["x" * 65, "two words", "bad\x01char", "<script>"])
def test_an_unsafe_request_id_is_replaced(client: FlaskClient, hostile: str) -> None:
    response = client.get("/api/hello", headers={"X-Request-ID": hostile})
    assert NEW_ID.fullmatch(response.headers["X-Request-ID"])


def test_each_request_without_an_id_gets_its_own(client: FlaskClient) -> None:
    ids = {client.get("/api/hello").headers["X-Request-ID"] for _ in range(3)}
    assert len(ids) == 3 and all(NEW_ID.fullmatch(found) for found in ids)


class Lines:
    """Stands in for a log handler: keeps the access lines it is given, and reads them as
    the writer thread formats them."""

    def __init__(self) -> None:
        self.lines: list[logs.AccessEntry] = []

    def add(self, entry: logs.AccessEntry) -> None:
        self.lines.append(entry)

    def texts(self) -> list[str]:
        return [logs.access.render(entry).decode().removesuffix("\n") for entry in self.lines]

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(text) for text in self.texts()]


@pytest.fixture
def access_lines(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> Lines:
    """The access lines of this test's requests, in JSON."""
    caplog.set_level(logging.INFO, logger="access")
    lines = Lines()
    monkeypatch.setattr(logs.access, "handlers", [lines])
    monkeypatch.setattr(logs.access, "json", True)
    return lines


def test_a_failed_request_has_its_id_on_the_response_and_in_the_log(
    client: FlaskClient, caplog: pytest.LogCaptureFixture, access_lines: Lines
) -> None:
    # As service/logs.py configures every handler: records get the request's ID.
    caplog.handler.addFilter(logs.RequestIdFilter())
    response = client.get("/test/boom", headers={"X-Request-ID": "trace-boom"})
    assert response.status_code == 500
    assert response.headers["X-Request-ID"] == "trace-boom"
    (exception,) = [record for record in caplog.records if record.exc_info]
    (access,) = access_lines.records()
    assert exception.request_id == access["request_id"] == "trace-boom"  # type: ignore[attr-defined]
    assert (access["status"], access["path"]) == (500, "/test/boom")
    assert access["message"] == (
        f"GET /test/boom 500 {access['duration_ms']}ms client=127.0.0.1 origin=-"
    )
    assert logs.request_id.get() == "-"  # nothing leaks into the next request


def test_one_access_line_per_request_with_its_fields(
    client: FlaskClient, access_lines: Lines
) -> None:
    client.options(
        "/api/hello",
        headers={"Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "GET"},
    )
    client.get("/no/such/page\x1b[2J", headers={"Origin": ALLOWED_ORIGIN})
    preflight, missing = access_lines.records()
    assert (preflight["method"], preflight["path"]) == ("OPTIONS", "/api/hello")
    assert (preflight["status"], preflight["logger"], preflight["level"]) == (200, "access", "INFO")
    assert preflight["origin"] == ALLOWED_ORIGIN
    assert preflight["duration_ms"] >= 0
    assert preflight["message"].startswith("OPTIONS /api/hello 200 ")
    # A control character in the path must not reach the log as one: it could forge lines.
    assert missing["status"] == 404 and missing["path"] == "/no/such/page\\x1b[2J"


def test_the_access_line_follows_the_access_loggers_level(
    client: FlaskClient, access_lines: Lines, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="access")
    client.get("/api/hello")
    assert access_lines.lines == []


def test_text_access_line_reads_like_every_other_line(
    client: FlaskClient, access_lines: Lines, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logs.access, "json", False)
    client.get("/api/hello", headers={"X-Request-ID": "trace-text", "Origin": ALLOWED_ORIGIN})
    (line,) = access_lines.texts()
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO \[\d+\] access \[trace-text\]: "
        rf"GET /api/hello 200 [\d.]+ms client=127\.0\.0\.1 origin={ALLOWED_ORIGIN}",
        line,
    ), line


def test_a_header_the_view_sets_is_kept(app: Flask, client: FlaskClient) -> None:
    @app.get("/test/framed")
    def framed() -> Response:
        response = Response("ok")
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
        return response

    headers = client.get("/test/framed").headers
    assert headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_an_apps_own_header_list_is_left_as_it_was() -> None:
    shared = [("Content-Type", "text/plain")]

    def reusing_app(_environ: dict, start_response: Callable[..., object]) -> list[bytes]:
        start_response("200 OK", shared)
        return [b"ok"]

    sent: list[list[tuple[str, str]]] = []
    wrapped = Middleware(reusing_app, load_settings(TEST_ENVIRON))
    for _ in range(2):
        wrapped({"REQUEST_METHOD": "GET"}, lambda _status, headers, _exc=None: sent.append(headers))
    assert shared == [("Content-Type", "text/plain")]
    assert [len(headers) for headers in sent] == [len(sent[0])] * 2
    assert ("X-Content-Type-Options", "nosniff") in sent[0]


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ([], ["Origin"]),
        (["Cookie"], ["Cookie", "Origin"]),
        (["Accept, origin"], ["Accept, origin"]),
        (["*"], ["*"]),
        # Flask's session and a view may each add their own Vary line.
        (["Cookie", "Origin"], ["Cookie", "Origin"]),
    ],
)
def test_vary_names_origin_once(before: list[str], after: list[str]) -> None:
    headers = [("Content-Type", "application/json"), *(("Vary", value) for value in before)]
    sent = response_headers(headers, [], https=False)
    assert [value for name, value in sent if name == "Vary"] == after


def test_sessions_still_round_trip(app: Flask) -> None:
    @app.post("/test/login")
    def login() -> dict[str, bool]:
        session["user"] = "ada"
        return {"ok": True}

    @app.get("/test/whoami")
    def whoami() -> dict[str, str | None]:
        return {"user": session.get("user")}

    client = app.test_client()
    assert client.get("/test/whoami").get_json() == {"user": None}
    cookie = client.post("/test/login", base_url="https://localhost").headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie
    mine = client.get("/test/whoami", base_url="https://localhost")
    assert mine.get_json() == {"user": "ada"}
    # Signed with SECRET_KEY: the same cookie under another key is no session at all.
    app.config["SECRET_KEY"] += "-rotated"
    assert client.get("/test/whoami", base_url="https://localhost").get_json() == {"user": None}
