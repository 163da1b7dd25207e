{%- set database = cookiecutter.database == "postgresql" -%}
"""The API's contract: the OpenAPI 3.1 document APIFlask writes from the routes' Pydantic
models, the 422 a request that breaks them gets, and the optional docs page.

`flask --app app spec --output openapi.json` writes the document (a test fails while the
committed one differs); with API_DOCS=true the service serves it at /openapi.json and a
Swagger UI page at /docs, from the flask-swagger-ui package's files, never a CDN.
"""

from importlib.resources import files
from typing import Any

from apiflask import APIFlask, HTTPError
from flask import Blueprint, Response, abort, current_app, request, send_from_directory
from werkzeug.http import HTTP_STATUS_CODES

SPEC_PATH = "/openapi.json"
DOCS_PATH = "/docs"

# The service's JSON error body (service/errors.py writes it for every HTTP error).
ERROR_BODY = {
    "type": "object",
    "required": ["status", "error", "message"],
    "properties": {
        "status": {"type": "integer", "description": "The HTTP status code."},
        "error": {"type": "string", "description": "The status's name."},
        "message": {"type": "string", "description": "What went wrong, for people."},
    },
}
# A 422: the error body plus each invalid field, where it was and why.
INVALID_REQUEST = {
    "type": "object",
    "required": [*ERROR_BODY["required"], "errors"],
    "properties": {
        **ERROR_BODY["properties"],
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["location", "field", "message"],
                "properties": {
                    "location": {
                        "type": "string",
                        "enum": ["path", "query", "body", "header", "cookie"],
                    },
                    "field": {
                        "type": "string",
                        "description": "The field's dotted path; empty for the whole body.",
                    },
                    "message": {"type": "string"},
                },
            },
        },
    },
}
# Where APIFlask says a value was, as a client's developer names it.
LOCATIONS = {
    "json": "body",
    "form": "body",
    "query": "query",
    "view_args": "path",
    "path": "path",
    "headers": "header",
    "cookies": "cookie",
}
# APIFlask's field name for a problem with the whole body (a list sent for an object).
WHOLE_BODY = "_schema"

# Statuses an operation can answer besides its own, each with the service's error body.
EVERY_OPERATION = {
    405: "The path does not take this method (the Allow header lists those it takes).",
    500: "An unexpected error; the log line with this response's X-Request-ID says more.",
}
WITH_A_BODY = {
    400: "The body is not valid JSON.",
    413: "The body is larger than MAX_CONTENT_LENGTH.",
    415: "The body was not sent as application/json.",
}
{%- if database %}
# The tags of the operations that need the database.
DATABASE_TAGS = {"Notes"}
UNAVAILABLE = "The database is busy or down; try again after Retry-After seconds."
{%- endif %}


def init_app(app: APIFlask, *, serve_docs: bool) -> None:
    app.config.update(
        # operationIds named after the views (get_api_hello), so that a generated client's
        # method names change only when a route does.
        AUTO_OPERATION_ID=True,
        # The document describes the API, not the host that happens to serve it.
        AUTO_SERVERS=False,
        VALIDATION_ERROR_SCHEMA=INVALID_REQUEST,
        HTTP_ERROR_SCHEMA=ERROR_BODY,
        LOCAL_SPEC_JSON_INDENT=2,
    )
    app.error_processor(invalid_request)
    app.spec_processor(finish_document)
    if serve_docs:
        app.register_blueprint(docs)


def require_json() -> None:
    """A blueprint's before_request: a body that is not JSON is a 415, malformed JSON a
    400, before APIFlask reads it (APIFlask reads any body as JSON, and null as {})."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return
    if request.get_json() is None:  # parses once; APIFlask's read gets the same object
        problem = {"json": {WHOLE_BODY: ["The body must not be null."]}}
        raise HTTPError(current_app.config["VALIDATION_ERROR_STATUS_CODE"], detail=problem)


def invalid_request(error: HTTPError) -> Response:
    """APIFlask's errors (a request its route's models refuse) in the service's body."""
    body: dict[str, Any] = {
        "status": error.status_code,
        "error": HTTP_STATUS_CODES.get(error.status_code, "Unknown Error"),
        "message": error.message or "",
    }
    if error.status_code == current_app.config["VALIDATION_ERROR_STATUS_CODE"]:
        body["message"] = "The request does not match the API: see errors."
        body["errors"] = [
            {
                "location": LOCATIONS.get(where, where),
                "field": "" if field == WHOLE_BODY else field,
                "message": message,
            }
            for where, fields in error.detail.items()
            for field, messages in fields.items()
            for message in messages
        ]
    response = current_app.json.response(body)
    response.status_code = error.status_code
    response.headers.update(error.headers)
    return response


def finish_document(spec: dict[str, Any]) -> dict[str, Any]:
    """What APIFlask's document leaves out or says twice, for every spec it writes."""
    return one_schema_per_model(document_errors(spec))


def document_errors(spec: dict[str, Any]) -> dict[str, Any]:
    """Each operation's document names every status it can answer, not only its own."""
    for operations in spec["paths"].values():
        for operation in operations.values():
            extra = dict(EVERY_OPERATION)
            if "requestBody" in operation:
                operation["requestBody"]["required"] = True  # require_json() refuses none
                extra.update(WITH_A_BODY)
{%- if database %}
            if DATABASE_TAGS & set(operation.get("tags", ())):
                extra[503] = UNAVAILABLE
{%- endif %}
            for status, description in extra.items():
                operation["responses"].setdefault(str(status), error_response(description))
    spec["components"]["schemas"].setdefault("HTTPError", ERROR_BODY)
    return spec


def one_schema_per_model(spec: dict[str, Any]) -> dict[str, Any]:
    """APIFlask lists a model used inside another as "Outer.Inner", beside the "Inner" of
    the routes that use it alone: one model, one schema, so that a generated client has
    one type for it. Two different models that share a name keep both names."""
    schemas = spec["components"]["schemas"]
    renamed = {}
    for nested in [name for name in schemas if "." in name]:
        name = nested.rsplit(".", 1)[1]
        if schemas.get(name, schemas[nested]) == schemas[nested]:
            schemas[name] = schemas.pop(nested)
            renamed[f"#/components/schemas/{nested}"] = f"#/components/schemas/{name}"
    return point_refs(spec, renamed) if renamed else spec


def point_refs(node: Any, renamed: dict[str, str]) -> Any:
    """`node` with each `$ref` that `renamed` names pointing to the new name."""
    if isinstance(node, dict):
        return {
            key: renamed.get(value, value)
            if key == "$ref" and isinstance(value, str)
            else point_refs(value, renamed)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [point_refs(item, renamed) for item in node]
    return node


def error_response(description: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/HTTPError"}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


# --- The docs page (API_DOCS=true): Swagger UI's files from the flask-swagger-ui package.

docs = Blueprint("docs", __name__, url_prefix=DOCS_PATH)
ASSETS = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "index.css", "favicon-32x32.png"})
PAGE = f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>API docs</title>
  <link rel="stylesheet" href="{DOCS_PATH}/swagger-ui.css">
  <link rel="stylesheet" href="{DOCS_PATH}/index.css">
  <link rel="icon" type="image/png" href="{DOCS_PATH}/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui" data-url="{SPEC_PATH}"></div>
  <script src="{DOCS_PATH}/swagger-ui-bundle.js"></script>
  <script src="{DOCS_PATH}/start.js"></script>
</body>
</html>
"""
# No inline script, so the page's policy allows scripts from this service alone. Swagger
# UI's SVG icons are data: URLs; its "Try it out" calls this service (connect-src).
DOCS_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
START = """SwaggerUIBundle({
  url: document.getElementById("swagger-ui").dataset.url,
  dom_id: "#swagger-ui",
  deepLinking: true,
});
"""


@docs.get("/")
def page() -> Response:
    return Response(PAGE, content_type="text/html; charset=utf-8", headers=page_headers())


@docs.get("/start.js")
def start() -> Response:
    return Response(START, content_type="text/javascript; charset=utf-8", headers=page_headers())


@docs.get("/<name>")
def asset(name: str) -> Response:
    if name not in ASSETS:
        abort(404)
    # Looked up here, not at import: a service without API_DOCS never loads the package.
    swagger_ui = files("flask_swagger_ui") / "dist"
    response = send_from_directory(str(swagger_ui), name, max_age=3600)
    response.headers.update(page_headers())
    return response


def page_headers() -> dict[str, str]:
    return {"Content-Security-Policy": DOCS_POLICY}
