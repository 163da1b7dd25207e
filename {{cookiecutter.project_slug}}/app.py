{%- set metrics = cookiecutter.include_metrics -%}
{%- set database = cookiecutter.database == "postgresql" -%}
"""The Flask application: `create_app()` builds it, `app` is what the servers import."""

from collections.abc import Mapping
from typing import Any

from apiflask import APIFlask
from flask_orjson import OrjsonProvider
from orjson import (
    OPT_APPEND_NEWLINE,
    OPT_INDENT_2,
    OPT_NAIVE_UTC,
    OPT_NON_STR_KEYS,
    OPT_SORT_KEYS,
)

from service import api, {% if database %}db, {% endif %}errors, health{% if metrics %}, metrics{% endif %}{% if database %}, notes{% endif %}, openapi
from service.middleware import Middleware
from service.sessions import CookieSessions
from service.settings import SettingsError, load_settings

# The API's version in openapi.json: raise it when a change breaks existing clients.
API_VERSION = "1.0.0"


class JSON(OrjsonProvider):
    """orjson, honouring `indent` (OrjsonProvider ignores it), so that `flask spec` writes
    openapi.json indented, one value per line, for diffs a reviewer can read."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if kwargs.pop("indent", None):
            option = kwargs.get("option") or self.option or 0
            kwargs["option"] = option & ~OPT_APPEND_NEWLINE | OPT_INDENT_2
        return super().dumps(obj, **kwargs)


def create_app(
    test_config: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str | None] | None = None,
) -> APIFlask:
    """Build the app from the environment (or `environ`), then apply `test_config`.

    What only serving needs (REQUIRED in service/settings.py) is checked where the server
    starts: `flask --app app spec` describes the API from a clean checkout, without secrets.
    """
    settings = load_settings(environ, serving=False)
    app = APIFlask(
        __name__,
        title={{ cookiecutter.project_name | tojson }},
        version=API_VERSION,
        # API_DOCS=true serves the document and a docs page; openapi.json is committed.
        spec_path=openapi.SPEC_PATH if settings.api_docs else None,
        docs_path=None,
        # Every error keeps the service's JSON body (service/errors.py).
        json_errors=False,
    )
    if app.debug:
        app.logger.warning("FLASK_DEBUG is ignored: the debugger never runs in this service")

    app.config.from_mapping(
        # The debugger runs code sent by the browser: never on, whatever FLASK_DEBUG says.
        DEBUG=False,
        # Unhandled exceptions become service/errors.py's JSON 500, not the server's page.
        PROPAGATE_EXCEPTIONS=False,
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_content_length,
        # Session cookies travel over HTTPS only, stay out of reach of page scripts, and
        # are not sent on cross-site subrequests (same-site subdomains still get them).
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SETTINGS=settings,
    )
    if test_config is not None:
        app.config.from_mapping(test_config)

    # JSON through orjson: Flask's own provider builds a new encoder for every response, a
    # cost every small request pays (profiled in the template). Sorted keys and a final
    # newline as Flask writes; unlike Flask, ISO 8601 dates, and integers past 64 bits
    # arrive as floats (JavaScript cannot hold them either).
    app.json = JSON(app)
    app.json.option = OPT_SORT_KEYS | OPT_APPEND_NEWLINE | OPT_NON_STR_KEYS | OPT_NAIVE_UTC

    # A preflight answered with a redirect fails in the browser as a CORS error, so
    # /path and /path/ both answer directly. Must be set before routes are added.
    app.url_map.strict_slashes = False
    app.session_interface = CookieSessions()

    errors.init_app(app)
    openapi.init_app(app, serve_docs=settings.api_docs)
{%- if database %}
    db.init_app(app, settings)
{%- endif %}
    app.register_blueprint(health.bp)
    app.register_blueprint(api.bp)
{%- if database %}
    app.register_blueprint(notes.bp)
{%- endif %}
{%- if metrics %}
    metrics.init_app(app)
{%- endif %}
    # Request ID, CORS, default headers and the access log, for every response.
{%- if metrics %}
    # (Pages have no business reading /metrics.)
    app.wsgi_app = Middleware(app.wsgi_app, settings, cors_exempt=metrics.PATHS)  # type: ignore[method-assign]
{%- else %}
    app.wsgi_app = Middleware(app.wsgi_app, settings)  # type: ignore[method-assign]
{%- endif %}
{%- if metrics %}
    # Outermost, so it counts every request, preflights included.
    app.wsgi_app = metrics.Counted(app.wsgi_app, app)  # type: ignore[method-assign]
{%- endif %}
    return app


try:
    app = create_app()
except SettingsError as error:
    # The fix is in the environment, not the code: one line, no traceback.
    raise SystemExit(f"error: {error}") from None
