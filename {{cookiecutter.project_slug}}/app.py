{%- set metrics = cookiecutter.include_metrics -%}
"""The Flask application: `create_app()` builds it, `app` is what the servers import."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask_cors import CORS

from service import api, errors, health, {% if metrics %}metrics, {% endif %}request_id
from service.config import SettingsError, load_settings
from service.edge import Edge
from service.proxy import TrustedProxyFix
from service.sessions import CookieSessions

# Request headers a cross-origin page may send; add your own custom headers here.
CORS_ALLOW_HEADERS = ["Authorization", "Content-Type"]
{%- if metrics %}
# Every path but /metrics: browsers' pages have no business reading it.
CORS_PATHS = r"^(?!/metrics/?$).*"
{%- else %}
# CORS answers on every path, errors included.
CORS_PATHS = r"/*"
{%- endif %}


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
        # Turn unhandled exceptions into the JSON 500 below, which still carries CORS
        # headers, instead of letting them escape to the server past flask-cors.
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

    # A preflight answered with a redirect fails in the browser as a CORS error,
    # so /path and /path/ both answer directly. Must be set before routes are added.
    app.url_map.strict_slashes = False

    CORS(
        app,
        resources=CORS_PATHS,
        origins=list(settings.cors_origins),
        supports_credentials=settings.cors_allow_credentials,
        allow_headers=CORS_ALLOW_HEADERS,
        # Scripts may read the request ID, to show it in their error messages.
        expose_headers=[request_id.HEADER],
        max_age=settings.cors_max_age,
    )
    app.session_interface = CookieSessions()
    # Outermost first: trusted proxy headers, so the access log sees the real client
    # and HSTS the real scheme; then request ID, security headers and access log.
    wrapped = TrustedProxyFix(Edge(app.wsgi_app), settings.forwarded_allow_ips)
    app.wsgi_app = wrapped  # type: ignore[method-assign]
    errors.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(api.bp)
{%- if metrics %}
    metrics.init_app(app, environ)
{%- endif %}
    return app


try:
    app = create_app()
except SettingsError as error:
    # The fix is in the environment, not the code: one line, no traceback.
    raise SystemExit(f"error: {error}") from None
