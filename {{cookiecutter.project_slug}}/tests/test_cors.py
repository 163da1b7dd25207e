import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app import create_app
from tests.conftest import ALLOWED_ORIGIN, REFUSED_ORIGIN, TEST_ENVIRON


def preflight(client: FlaskClient, origin: str, path: str = "/api/hello") -> TestResponse:
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )


def test_preflight_from_allowed_origin_is_answered_and_cacheable(client: FlaskClient) -> None:
    response = preflight(client, ALLOWED_ORIGIN)
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed
    assert "content-type" in allowed
    assert int(response.headers["Access-Control-Max-Age"]) > 0
    assert "Origin" in response.headers["Vary"]


def test_preflight_with_trailing_slash_is_not_redirected(client: FlaskClient) -> None:
    response = preflight(client, ALLOWED_ORIGIN, "/api/hello/")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN


@pytest.mark.parametrize("origin", [REFUSED_ORIGIN, "null", ALLOWED_ORIGIN + ".evil.example"])
def test_refused_origin_gets_no_cors_headers(client: FlaskClient, origin: str) -> None:
    for response in (
        preflight(client, origin),
        client.get("/api/hello", headers={"Origin": origin}),
    ):
        assert "Access-Control-Allow-Origin" not in response.headers
        # Caches must still key on Origin, or they could serve this to an allowed page.
        assert "Origin" in response.headers["Vary"]


@pytest.mark.parametrize("allow", [True, False])
def test_credentials_header_follows_the_setting(allow: bool) -> None:
    environ = {**TEST_ENVIRON, "CORS_ALLOW_CREDENTIALS": str(allow).lower()}
    client = create_app({"TESTING": True}, environ=environ).test_client()
    response = client.get("/api/hello", headers={"Origin": ALLOWED_ORIGIN})
    assert (response.headers.get("Access-Control-Allow-Credentials") == "true") is allow


def test_any_origin_when_configured_with_star() -> None:
    environ = {**TEST_ENVIRON, "CORS_ORIGINS": "*"}
    client = create_app({"TESTING": True}, environ=environ).test_client()
    response = client.get("/api/hello", headers={"Origin": REFUSED_ORIGIN})
    assert response.headers["Access-Control-Allow-Origin"] in ("*", REFUSED_ORIGIN)


def test_several_origins_name_origin_once_in_vary() -> None:
    # flask-cors adds its own Vary: Origin when several origins are allowed.
    second = "http://second.example"
    environ = {**TEST_ENVIRON, "CORS_ORIGINS": f"{ALLOWED_ORIGIN},{second}"}
    client = create_app({"TESTING": True}, environ=environ).test_client()
    for origin in (ALLOWED_ORIGIN, second, REFUSED_ORIGIN):
        vary = client.get("/api/hello", headers={"Origin": origin}).headers.getlist("Vary")
        tokens = [token.strip().lower() for value in vary for token in value.split(",")]
        assert tokens.count("origin") == 1, vary
