import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.conftest import ALLOWED_ORIGIN


def assert_json_error(response: TestResponse, status: int) -> None:
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["status"] == status
    assert set(body) == {"status", "error", "message"}
    text = response.get_data(as_text=True)
    assert "Traceback" not in text
    assert "<html" not in text.lower()
    # Without this header the browser reports the error as a CORS failure.
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("get", "/no/such/page", {}, 404),
        ("delete", "/api/hello", {}, 405),
        ("post", "/api/echo", {"data": "{oops", "content_type": "application/json"}, 400),
        ("post", "/api/echo", {"data": "plain", "content_type": "text/plain"}, 415),
    ],
    ids=["not-found", "wrong-method", "malformed-json", "not-json"],
)
def test_client_errors_are_json_with_cors_headers(
    client: FlaskClient, method: str, path: str, kwargs: dict, status: int
) -> None:
    response = getattr(client, method)(path, headers={"Origin": ALLOWED_ORIGIN}, **kwargs)
    assert_json_error(response, status)


def test_body_over_max_content_length_is_a_json_413(app: Flask, client: FlaskClient) -> None:
    too_big = b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    response = client.post(
        "/api/echo",
        data=too_big,
        content_type="application/json",
        headers={"Origin": ALLOWED_ORIGIN},
    )
    assert_json_error(response, 413)


def test_raised_exception_is_a_json_500_with_cors_headers(client: FlaskClient) -> None:
    response = client.get("/test/boom", headers={"Origin": ALLOWED_ORIGIN})
    assert_json_error(response, 500)
    assert "a bug in a view" not in response.get_data(as_text=True)


def test_wrong_method_names_the_allowed_ones(client: FlaskClient) -> None:
    assert "GET" in client.delete("/api/hello").headers["Allow"]


def test_debugger_resources_do_not_exist(client: FlaskClient) -> None:
    response = client.get("/?__debugger__=yes&cmd=resource&f=debugger.js")
    assert response.status_code == 404
