{%- set database = cookiecutter.database == "postgresql" -%}
"""Property-based: whatever a client sends, the service never answers 500 or a traceback."""

from __future__ import annotations

import string

from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st

from app import create_app
from tests.conftest import ALLOWED_ORIGIN, TEST_ENVIRON

# Printable ASCII without whitespace: what can travel in a request line or header value.
VISIBLE = st.characters(min_codepoint=33, max_codepoint=126)
METHODS = st.sampled_from(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
PATHS = st.one_of(
    st.sampled_from(["/", "/healthz", "/readyz", "/api/hello", "/api/echo", "/api/echo/"]),
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
CLIENT = create_app({"TESTING": True}, environ=TEST_ENVIRON).test_client()


@settings(max_examples=300, deadline=None)
@given(method=METHODS, path=PATHS, headers=HEADERS, body=BODIES)
def test_random_requests_never_fail_on_the_server(
    method: str, path: str, headers: dict[str, str], body: bytes
) -> None:
    response = CLIENT.open(path, method=method, headers=headers, data=body)
{%- if database %}
    # TEST_ENVIRON's database does not answer: what needs it is a JSON 503, never a 500.
    assert response.status_code < 500 or response.status_code == 503
{%- else %}
    assert response.status_code < 500
{%- endif %}
    assert b"Traceback" not in response.data
    assert b"<html" not in response.data.lower()


def test_the_property_test_can_see_a_500() -> None:
    # Guard against a vacuous property: a real 500 is visible to the same checks.
    app = create_app({"TESTING": True}, environ=TEST_ENVIRON)
    app.add_url_rule("/boom", "boom", lambda: 1 / 0)
    client: FlaskClient = app.test_client()
    assert client.get("/boom").status_code == 500
