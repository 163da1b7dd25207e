"""Flask's signed-cookie sessions, opened only when the request sends the cookie.

Flask builds the session's signing serializer for every request, whether it sent a session
cookie or not: about 20 us, more than the rest of this service's per-request plumbing. A
request without the cookie gets a new, empty session straight away, which is what Flask
would return for it too.
"""

from __future__ import annotations

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface


class CookieSessions(SecureCookieSessionInterface):
    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key and "HTTP_COOKIE" not in request.environ:
            return self.session_class()
        return super().open_session(app, request)
