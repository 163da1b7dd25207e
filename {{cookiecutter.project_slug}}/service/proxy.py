"""Believe X-Forwarded-* headers only from the proxies in FORWARDED_ALLOW_IPS.

Behind nginx, every request comes from the proxy's address; the client's address and
scheme travel in X-Forwarded-For and X-Forwarded-Proto. Anyone can send those headers,
so they count only when the peer is a trusted proxy. This one rule serves both servers:
Gunicorn applies FORWARDED_ALLOW_IPS to the scheme only, and Waitress is told to leave
the headers to the app.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from werkzeug.middleware.proxy_fix import ProxyFix

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


class TrustedProxyFix:
    """werkzeug's ProxyFix (one proxy hop), applied only to requests from `trusted` peers."""

    def __init__(self, app: WSGIApplication, trusted: Iterable[str]) -> None:
        self.app = app
        self.fixed = ProxyFix(app, x_for=1, x_proto=1)
        self.trusted = frozenset(trusted)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        peer = environ.get("REMOTE_ADDR", "")
        if "*" in self.trusted or peer in self.trusted:
            return self.fixed(environ, start_response)
        return self.app(environ, start_response)
