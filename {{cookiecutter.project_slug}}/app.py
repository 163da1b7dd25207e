{%- set metrics = cookiecutter.include_metrics -%}
{%- set database = cookiecutter.database == "postgresql" -%}
"""The Flask application: `create_app()` builds it, `app` is what the servers import."""

from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask_orjson import OrjsonProvider
from orjson import OPT_APPEND_NEWLINE, OPT_NAIVE_UTC, OPT_NON_STR_KEYS, OPT_SORT_KEYS

from service import api, {% if database %}db, {% endif %}errors, health{% if metrics %}, metrics{% endif %}{% if database %}, notes{% endif %}
from service.middleware import Middleware
from service.sessions import CookieSessions
from service.settings import SettingsError, load_settings


def create_app(
    test_config: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str | None] | None = None,
) -> Flask:
    """Build the app from the environment (or `environ`), then apply `test_config`."""
    settings = load_settings(environ)
    app = Flask(__name__)
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
    app.json = OrjsonProvider(app)
    app.json.option = OPT_SORT_KEYS | OPT_APPEND_NEWLINE | OPT_NON_STR_KEYS | OPT_NAIVE_UTC

    # A preflight answered with a redirect fails in the browser as a CORS error, so
    # /path and /path/ both answer directly. Must be set before routes are added.
    app.url_map.strict_slashes = False
    app.session_interface = CookieSessions()

    errors.init_app(app)
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
