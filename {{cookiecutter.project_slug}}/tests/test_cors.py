import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app import create_app
from tests.conftest import ALLOWED_ORIGIN, REFUSED_ORIGIN, TEST_ENVIRON


def preflight(
    client: FlaskClient,
    origin: str,
    path: str = "/api/hello",
    headers: str = "authorization, content-type",
) -> TestResponse:
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": headers,
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
    # The middleware adds Vary: Origin once, whatever the origin and however many are allowed.
    second = "http://second.example"
    environ = {**TEST_ENVIRON, "CORS_ORIGINS": f"{ALLOWED_ORIGIN},{second}"}
    client = create_app({"TESTING": True}, environ=environ).test_client()
    for origin in (ALLOWED_ORIGIN, second, REFUSED_ORIGIN):
        vary = client.get("/api/hello", headers={"Origin": origin}).headers.getlist("Vary")
        tokens = [token.strip().lower() for value in vary for token in value.split(",")]
        assert tokens.count("origin") == 1, vary


@pytest.mark.parametrize("header", ["x-request-id", "traceparent", "tracestate"])
def test_preflight_allows_the_request_id_and_trace_context(
    client: FlaskClient, header: str
) -> None:
    """The service reads X-Request-ID back, and browser tracing sends W3C trace context."""
    answer = preflight(client, ALLOWED_ORIGIN, headers=header)
    allowed = answer.headers["Access-Control-Allow-Headers"]
    assert header in [name.strip().lower() for name in allowed.split(",")]


def test_cors_allow_headers_adds_headers_to_the_preflight() -> None:
    environ = {**TEST_ENVIRON, "CORS_ALLOW_HEADERS": "X-Client-Version"}
    client = create_app({"TESTING": True}, environ=environ).test_client()
    allowed = preflight(client, ALLOWED_ORIGIN).headers["Access-Control-Allow-Headers"]
    assert "X-Client-Version" in allowed and "Authorization" in allowed


@pytest.mark.parametrize("path", ["/no/such/route", "/api/hello-typo", "/wrong-prefix/hello"])
def test_preflight_for_a_missing_route_is_answered_so_the_page_reads_its_404(
    client: FlaskClient, path: str
) -> None:
    answer = preflight(client, ALLOWED_ORIGIN, path)
    assert answer.status_code == 200
    assert answer.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    response = client.get(path, headers={"Origin": ALLOWED_ORIGIN})
    assert response.status_code == 404
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert response.get_json()["status"] == 404


def test_preflight_from_a_refused_origin_to_a_missing_route_grants_nothing(
    client: FlaskClient,
) -> None:
    answer = preflight(client, REFUSED_ORIGIN, "/no/such/route")
    assert "Access-Control-Allow-Origin" not in answer.headers
