{%- set database = cookiecutter.database == "postgresql" -%}
"""The API's contract: the committed openapi.json is what the routes describe, requests
that break it get a 422 naming each field, and API_DOCS serves the document and its page."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from service.openapi import DOCS_POLICY, one_schema_per_model
from tests.conftest import ALLOWED_ORIGIN, TEST_ENVIRON

PROJECT_DIR = Path(__file__).resolve().parent.parent
COMMAND = "flask --app app spec --output openapi.json"


def written_spec(tmp_path: Path) -> str:
    """What `flask --app app spec` writes, with no secret{% if database %} and no database{% endif %} set
    (empty values win over .env), as in a fresh clone."""
    environ = {**os.environ, "SECRET_KEY": ""{% if database %}, "DATABASE_URL": ""{% endif %}}
    out = tmp_path / "openapi.json"
    command = [sys.executable, "-m", "flask", "--app", "app", "spec", "--quiet", "--output"]
    done = subprocess.run(
        [*command, str(out)],
        cwd=PROJECT_DIR,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return out.read_text(encoding="utf-8")


def test_committed_openapi_json_is_current(tmp_path: Path) -> None:
    committed = (PROJECT_DIR / "openapi.json").read_text(encoding="utf-8")
    assert written_spec(tmp_path) == committed, f"openapi.json is stale: run {COMMAND}"


def test_operation_ids_are_named_after_the_views() -> None:
    spec = json.loads((PROJECT_DIR / "openapi.json").read_text(encoding="utf-8"))
    ids = {
        operation["operationId"]
        for operations in spec["paths"].values()
        for operation in operations.values()
    }
    assert {"get_api_hello", "post_api_echo", "get_health_healthz"} <= ids
{%- if database %}
    assert {"get_notes_list_notes", "post_notes_create_note"} <= ids
{%- endif %}


def test_a_nested_model_has_one_schema() -> None:
    inner = {"type": "object", "properties": {"id": {"type": "integer"}}}
    other = {"type": "object", "properties": {"name": {"type": "string"}}}
    outer = {"type": "array", "items": {"$ref": "#/components/schemas/Outer.Inner"}}
    lone = {"type": "array", "items": {"$ref": "#/components/schemas/Pair.Other"}}
    spec = {
        "components": {
            "schemas": {
                "Outer": outer,
                "Outer.Inner": inner,
                "Inner": dict(inner),
                "Pair": lone,
                "Pair.Other": other,
                "Third.Inner": other,  # another model that happens to be called Inner
            }
        },
        "paths": {"/x": {"get": {"responses": {"200": {"$ref": "#/components/schemas/Outer"}}}}},
    }
    schemas = one_schema_per_model(spec)["components"]["schemas"]
    assert set(schemas) == {"Outer", "Inner", "Pair", "Other", "Third.Inner"}
    assert schemas["Outer"]["items"] == {"$ref": "#/components/schemas/Inner"}
    assert schemas["Pair"]["items"] == {"$ref": "#/components/schemas/Other"}
    assert schemas["Inner"] == inner and schemas["Other"] == other


@pytest.fixture
def docs_app() -> Flask:
    return create_app({"TESTING": True}, environ={**TEST_ENVIRON, "API_DOCS": "true"})


def test_api_docs_serve_the_committed_document(docs_app: Flask) -> None:
    served = docs_app.test_client().get("/openapi.json")
    assert served.status_code == 200
    committed = json.loads((PROJECT_DIR / "openapi.json").read_text(encoding="utf-8"))
    assert served.get_json() == committed


def test_docs_page_comes_from_the_service_with_its_own_policy(docs_app: Flask) -> None:
    client = docs_app.test_client()
    page = client.get("/docs")
    assert page.status_code == 200
    assert page.headers["Content-Security-Policy"] == DOCS_POLICY
    text = page.get_data(as_text=True)
    assert "http" not in text  # every file from this service: no CDN
    for path in ("/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css", "/docs/start.js"):
        assert path in text
        with client.get(path) as asset:
            assert asset.status_code == 200, path
            assert asset.headers["Content-Security-Policy"] == DOCS_POLICY
    assert client.get("/docs/../app.py").status_code == 404
    assert client.get("/docs/LICENSE").status_code == 404


def test_other_routes_keep_the_strict_policy(docs_app: Flask) -> None:
    policy = docs_app.test_client().get("/api/hello").headers["Content-Security-Policy"]
    assert policy == "default-src 'none'; frame-ancestors 'none'"


@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/docs/swagger-ui-bundle.js"])
def test_without_api_docs_there_is_neither(client: FlaskClient, path: str) -> None:
    assert client.get(path).status_code == 404


@pytest.mark.parametrize(
    ("request_args", "location", "field"),
    [
        ({"method": "GET", "path": "/api/hello?name="}, "query", "name"),
        ({"method": "GET", "path": "/api/hello?name=" + "x" * 101}, "query", "name"),
        ({"method": "POST", "path": "/api/echo", "json": [1, 2]}, "body", ""),
{%- if database %}
        ({"method": "GET", "path": "/api/notes/?limit=0"}, "query", "limit"),
        ({"method": "POST", "path": "/api/notes/", "json": {"text": " "}}, "body", "text"),
        ({"method": "POST", "path": "/api/notes/", "json": {}}, "body", "text"),
{%- endif %}
    ],
    ids=["empty-name", "long-name", "array-body"{% if database %}, "zero-limit", "blank-text", "no-text"{% endif %}],
)
def test_invalid_request_is_a_422_naming_the_field(
    client: FlaskClient, request_args: dict[str, object], location: str, field: str
) -> None:
    response = client.open(**request_args, headers={"Origin": ALLOWED_ORIGIN})
    assert response.status_code == 422
    body = response.get_json()
    assert (body["status"], body["error"]) == (422, "Unprocessable Entity")
    assert [(e["location"], e["field"]) for e in body["errors"]] == [(location, field)]
    assert body["errors"][0]["message"]
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert response.headers["X-Request-ID"]


def test_hello_takes_a_name(client: FlaskClient) -> None:
    assert client.get("/api/hello?name=Ada").get_json() == {"message": "Hello, Ada!"}
