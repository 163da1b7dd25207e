{%- set database = cookiecutter.database == "postgresql" -%}
"""Property-based: whatever a client sends, the service never answers 500 or a traceback."""

from __future__ import annotations

import string

import pytest
from flask import Flask, Response
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.exceptions import {% if database %}HTTPException, {% endif %}NotFound
from werkzeug.test import TestResponse

from app import create_app
from tests.conftest import ALLOWED_ORIGIN, TEST_ENVIRON

# Printable ASCII without whitespace: what can travel in a request line or header value.
VISIBLE = st.characters(min_codepoint=33, max_codepoint=126)
METHODS = st.sampled_from(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
{%- if database %}
ROUTES = ["/", "/healthz", "/readyz", "/api/hello", "/api/echo", "/api/echo/", "/api/notes"]
{%- else %}
ROUTES = ["/", "/healthz", "/readyz", "/api/hello", "/api/echo", "/api/echo/"]
{%- endif %}
PATHS = st.one_of(
    st.sampled_from(ROUTES),
    # One leading slash: the test client would read "//host" as a network location.
    st.text(VISIBLE.filter(lambda char: char not in "?#"), max_size=60).map(
        lambda path: "/" + path.lstrip("/")
    ),
)
HEADERS = st.dictionaries(
    st.sampled_from(
        [
            "Origin",
            "Content-Type",
            "Authorization",
            "Accept",
            "Access-Control-Request-Method",
            "Access-Control-Request-Headers",
            "X-Forwarded-For",
        ]
    ),
    st.one_of(
        st.sampled_from([ALLOWED_ORIGIN, "null", "application/json", "GET", "*"]),
        st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=80),
    ),
    max_size=5,
)
BODIES = st.one_of(
    st.binary(max_size=300),
    st.sampled_from([b"{}", b'{"a": 1}', b"[1]", b"null", b'{"a": ', b"\xff\xfe"]),
    st.text(string.printable, max_size=300).map(str.encode),
)
APP = create_app({"TESTING": True}, environ=TEST_ENVIRON)
CLIENT = APP.test_client()
{%- if database %}
# TEST_ENVIRON's database does not answer: the routes that ask it answer a JSON 503, and
# only they may. A new route that uses the database belongs here.
DATABASE_ROUTES = {"/readyz", "/api/notes/"}


def route(app: Flask, response: TestResponse) -> str | None:
    """The rule that answered the response's request (None: no route matched)."""
    try:
        rule, _ = app.url_map.bind_to_environ(response.request.environ).match(return_rule=True)
    except HTTPException:
        return None
    return rule.rule
{%- endif %}


def assert_no_server_failure(app: Flask, response: TestResponse) -> None:
{%- if database %}
    """The property: no 500 (a 503 only from a route that uses the database), no traceback,
    no HTML page."""
    if response.status_code == 503:
        assert route(app, response) in DATABASE_ROUTES, "a 503 from a route without a database"
    else:
        assert response.status_code < 500
{%- else %}
    """The property: no 500, no traceback, no HTML page."""
    assert response.status_code < 500
{%- endif %}
    assert b"Traceback" not in response.data
    assert b"<html" not in response.data.lower()


@settings(max_examples=300, deadline=None)
@given(method=METHODS, path=PATHS, headers=HEADERS, body=BODIES)
def test_random_requests_never_fail_on_the_server(
    method: str, path: str, headers: dict[str, str], body: bytes
) -> None:
    response = CLIENT.open(path, method=method, headers=headers, data=body)
    assert_no_server_failure(APP, response)


FAILURES = ["/test/boom", "/test/traceback", "/test/html-page"{% if database %}, "/test/unavailable"{% endif %}]


@pytest.mark.parametrize("path", FAILURES)
def test_the_property_fails_on_each_failure_it_looks_for(app: Flask, path: str) -> None:
{%- if database %}
    """Guard against a vacuous property: a 500, a traceback, werkzeug's HTML error page and
    a 503 from a route without a database, each made on purpose, fail it."""
{%- else %}
    """Guard against a vacuous property: a 500, a traceback and werkzeug's HTML error page,
    each made on purpose, fail it."""
{%- endif %}

    @app.get("/test/traceback")
    def traceback() -> str:
        return 'Traceback (most recent call last):\n  File "app.py", line 1\nValueError'

    @app.get("/test/html-page")
    def html_page() -> Response:  # werkzeug's own page, where errors.py has no handler
        return Response(NotFound().get_body(), 404, content_type="text/html")
{%- if database %}

    @app.get("/test/unavailable")
    def unavailable() -> tuple[dict[str, str], int]:
        return {"status": "unavailable"}, 503
{%- endif %}

    with pytest.raises(AssertionError):
        assert_no_server_failure(app, app.test_client().get(path))
