"""Flask's signed-cookie sessions, without the per-request work no request asked for.

Flask builds a signing serializer and parses the Cookie header on every request, whether
the view uses the session or not: together more than a plain Flask view costs to run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

if TYPE_CHECKING:
    # Flask's own dependency, named here only for the types.
    from itsdangerous import URLSafeTimedSerializer


class CookieSessions(SecureCookieSessionInterface):
    _keys: tuple[object, ...] = ()
    _serializer: URLSafeTimedSerializer | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        # Built again only when the keys change, so a new SECRET_KEY still takes effect.
        keys = (app.secret_key, *(app.config["SECRET_KEY_FALLBACKS"] or ()))
        if keys != self._keys:
            self._serializer = super().get_signing_serializer(app)
            self._keys = keys
        return self._serializer

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if "HTTP_COOKIE" not in request.environ:  # no cookie sent, so no session to load
            return self.session_class() if app.secret_key else None
        return super().open_session(app, request)
