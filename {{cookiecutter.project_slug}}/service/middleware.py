{%- set metrics = cookiecutter.include_metrics -%}
"""Per-request plumbing, in one WSGI middleware around the Flask app: the client's address
from a trusted proxy, a request ID, CORS, default headers and the access line, for every
response. A preflight from an allowed origin is answered before Flask routes it, whatever
its path, so the page's real request goes out and reads its real status (404, 405).
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import {% if metrics %}Collection, {% endif %}Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.middleware.proxy_fix import ProxyFix

from service.logs import access, request_id
from service.settings import Settings

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

REQUEST_ID_HEADER = "X-Request-ID"
# An incoming ID is kept only if short and plain; anything else could forge log lines, so
# it is replaced, never echoed or logged. New IDs: 128 bits from `random` (reseeded in each
# forked worker): a label, not a secret, and os.urandom's system call cost more than this.
SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

# Request headers a page may always send: credentials, JSON bodies, the request ID this
# service keeps, W3C trace context (browser tracing); CORS_ALLOW_HEADERS adds more.
ALLOW_HEADERS = ("Authorization", "Content-Type", REQUEST_ID_HEADER, "traceparent", "tracestate")
ALLOW_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
# Added to every response that does not set its own.
DEFAULT_HEADERS = (
    # API answers hold per-user data: no cache may keep them (OWASP REST Security).
    ("Cache-Control", "no-store"),
    # Browsers must not guess a JSON body is HTML or script.
    ("X-Content-Type-Options", "nosniff"),
    # An API is never framed; both headers, for old and new browsers.
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
    ("Referrer-Policy", "no-referrer"),
)
# Browsers that reached us over HTTPS keep to HTTPS for a year (ignored over plain HTTP).
HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
WITH_HSTS = (*DEFAULT_HEADERS, HSTS)
# CORS headers depend on Origin, also when a refused origin gets none: caches must key on it.
VARY_ORIGIN = ("Vary", "Origin")
DEFAULT_NAMES = frozenset(name.lower() for name, _ in (*WITH_HSTS, VARY_ORIGIN))


class Middleware:
    """Wraps the Flask app's `wsgi_app` (see app.py)."""
{% if metrics %}
    def __init__(
        self, app: WSGIApplication, settings: Settings, cors_exempt: Collection[str] = ()
    ) -> None:
{%- else %}
    def __init__(self, app: WSGIApplication, settings: Settings) -> None:
{%- endif %}
        self.app = app
        self.trusted = frozenset(settings.forwarded_allow_ips)
        # werkzeug's ProxyFix for one proxy hop, applied only to requests from a trusted peer.
        self.behind_proxy = ProxyFix(self.handle, x_for=1, x_proto=1)
        self.origins = frozenset(origin.lower() for origin in settings.cors_origins)
{%- if metrics %}
        self.cors_exempt = frozenset(cors_exempt)
{%- endif %}
        # Scripts may read the request ID, to show it in their error messages.
        self.cors_headers = [("Access-Control-Expose-Headers", REQUEST_ID_HEADER)]
        if settings.cors_allow_credentials:
            self.cors_headers.append(("Access-Control-Allow-Credentials", "true"))
        allowed = ", ".join(ALLOW_HEADERS + settings.cors_allow_headers)
        # A preflight's answer: these, plus the CORS headers every response gets.
        self.preflight_headers = [
            ("Access-Control-Allow-Methods", ALLOW_METHODS),
            ("Access-Control-Allow-Headers", allowed),
            ("Access-Control-Max-Age", str(settings.cors_max_age)),
            ("Content-Length", "0"),
        ]

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        forwarded = "HTTP_X_FORWARDED_FOR" in environ or "HTTP_X_FORWARDED_PROTO" in environ
        if forwarded and (environ.get("REMOTE_ADDR") in self.trusted or "*" in self.trusted):
            return self.behind_proxy(environ, start_response)
        return self.handle(environ, start_response)

    def handle(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        incoming = environ.get("HTTP_X_REQUEST_ID", "")
        current_id = incoming if SAFE_ID.fullmatch(incoming) else new_request_id()
        token = request_id.set(current_id)
        origin = self.allowed_origin(environ)
        added = [(REQUEST_ID_HEADER, current_id)]
        if origin is not None:
            added += [("Access-Control-Allow-Origin", origin), *self.cors_headers]
        https = environ.get("wsgi.url_scheme") == "https"
        # What the access log reports when the app fails before it starts a response.
        status = "500"

        def respond(answer: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            nonlocal status
            status = answer
            return start_response(answer, response_headers(headers, added, https), exc_info)

        try:
            if (
                origin is not None
                and environ["REQUEST_METHOD"] == "OPTIONS"
                and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ
            ):
                respond("200 OK", self.preflight_headers)
                return [b""]
            return self.app(environ, respond)
        finally:
            log_request(environ, status, time.perf_counter() - started)
            request_id.reset(token)

    def allowed_origin(self, environ: WSGIEnvironment) -> str | None:
        """What Access-Control-Allow-Origin says for this request: None for no CORS."""
        origin = environ.get("HTTP_ORIGIN")
{%- if metrics %}
        if origin is None or environ.get("PATH_INFO") in self.cors_exempt:
{%- else %}
        if origin is None:
{%- endif %}
            return None
        if origin in self.origins:
            return origin
        return "*" if "*" in self.origins else None


def new_request_id() -> str:
    return f"{random.getrandbits(128):032x}"  # nosec B311: a label, not a secret


def response_headers(
    headers: list[tuple[str, str]], added: list[tuple[str, str]], https: bool
) -> list[tuple[str, str]]:
    """A new list (the app may reuse its own): the app's headers, `added`, each default
    header the app did not set, and Vary: Origin unless the app's Vary names it."""
    defaults = WITH_HSTS if https else DEFAULT_HEADERS
    names = {name.lower() for name, _ in headers}
    if names.isdisjoint(DEFAULT_NAMES):  # the usual case: the view set none of them
        return [*headers, *added, *defaults, VARY_ORIGIN]
    missing = [header for header in defaults if header[0].lower() not in names]
    vary = ",".join(value for name, value in headers if name.lower() == "vary")
    if not {token.strip().lower() for token in vary.split(",")} & {"origin", "*"}:
        missing.append(VARY_ORIGIN)
    return [*headers, *added, *missing]


def log_request(environ: WSGIEnvironment, status: str, seconds: float) -> None:
    """Queue the request's access line (service/logs.py formats it, with its request ID)."""
    if not access.enabled:
        return
    method, path = environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")
    client, origin = environ.get("REMOTE_ADDR", "-"), environ.get("HTTP_ORIGIN", "-")
    access.write((time.time(), request_id.get(), method, path, status, seconds, client, origin))
