import pytest
from flask import Flask, session
from flask.testing import FlaskClient

from service import health


def test_healthz_answers_ok(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_every_response_carries_security_headers(client: FlaskClient) -> None:
    for path in ("/healthz", "/no/such/page"):
        headers = client.get(path).headers
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/api/hello", "/no/such/page"])
def test_responses_are_never_cached(client: FlaskClient, path: str) -> None:
    # OWASP's REST guidance: API answers hold per-user data.
    assert client.get(path).headers["Cache-Control"] == "no-store"


def test_a_view_may_set_its_own_cache_control(app: Flask) -> None:
    @app.get("/test/cached")
    def cached() -> tuple[dict[str, str], int, dict[str, str]]:
        return {"static": "yes"}, 200, {"Cache-Control": "public, max-age=60"}

    headers = app.test_client().get("/test/cached").headers
    assert headers.getlist("Cache-Control") == ["public, max-age=60"]


{% if cookiecutter.database == 'postgresql' -%}
@pytest.mark.usefixtures("database_answers")
{% endif -%}
def test_readyz_is_ready_until_the_process_drains(client: FlaskClient) -> None:
    assert client.get("/readyz").status_code == 200
    health.draining.set()
    try:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.get_json() == {"status": "draining"}
        assert client.get("/healthz").status_code == 200
    finally:
        health.draining.clear()


def test_hsts_only_over_https(client: FlaskClient) -> None:
    assert "Strict-Transport-Security" not in client.get("/healthz").headers
    secure = client.get("/healthz", base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_session_cookie_is_secure_httponly_and_same_site(app: Flask) -> None:
    @app.post("/test/login")
    def login() -> dict[str, bool]:
        session["user"] = "ada"
        return {"ok": True}

    response = app.test_client().post("/test/login", base_url="https://localhost")
    (cookie,) = response.headers.getlist("Set-Cookie")
    name_and_value, *attributes = (part.strip() for part in cookie.split(";"))
    assert name_and_value.startswith("session=")
    found = {attribute.partition("=")[0].lower(): attribute for attribute in attributes}
    assert [found.get(name) for name in ("secure", "httponly", "samesite")] == [
        "Secure",
        "HttpOnly",
        "SameSite=Lax",
    ]
