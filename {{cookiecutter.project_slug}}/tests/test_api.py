import datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient


@pytest.mark.parametrize("path", ["/api/hello", "/api/hello/"])
def test_hello_answers_with_and_without_trailing_slash(client: FlaskClient, path: str) -> None:
    # A redirect here would fail a browser's preflight.
    response = client.get(path)
    assert response.status_code == 200
    assert response.get_json() == {"message": "Hello, world!"}


def test_echo_returns_the_object_it_was_sent(client: FlaskClient) -> None:
    response = client.post("/api/echo", json={"answer": 42, "nested": {"ok": True}})
    assert response.status_code == 200
    assert response.get_json() == {"answer": 42, "nested": {"ok": True}}


@pytest.mark.parametrize(
    ("body", "status"),
    [("{not json", 400), ("[1, 2]", 422), ('"text"', 422), ("null", 422)],
    ids=["malformed", "array", "string", "null"],
)
def test_echo_refuses_anything_but_a_json_object(
    client: FlaskClient, body: str, status: int
) -> None:
    response = client.post("/api/echo", data=body, content_type="application/json")
    assert response.status_code == status
    assert response.get_json()["status"] == status


def test_json_is_written_as_flask_writes_it_with_iso_dates(app: Flask) -> None:
    @app.get("/test/shapes")
    def shapes() -> dict[object, object]:
        return {"b": 1, "a": datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC), 3: None}

    body = app.test_client().get("/test/shapes").data
    assert body == b'{"3":null,"a":"2026-01-02T03:04:05+00:00","b":1}\n'
