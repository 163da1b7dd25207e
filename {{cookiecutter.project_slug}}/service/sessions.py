"""Flask's signed-cookie sessions, doing their work only for requests that use a session.

For every request Flask builds the session's signing serializer, cookie or not, and reads
six cookie settings to save a session that is empty: together more than the rest of this
service's per-request plumbing. A request without the cookie gets a new, empty session
straight away (what Flask would return for it too), and an empty session that no view
touched is not saved (Flask would write no cookie for it either).
"""

from __future__ import annotations

from flask import Flask, Request, Response
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin


class CookieSessions(SecureCookieSessionInterface):
    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key and "HTTP_COOKIE" not in request.environ:
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if session or session.modified or session.accessed:
            super().save_session(app, session, response)
