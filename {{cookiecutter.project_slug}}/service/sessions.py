"""Flask's signed-cookie sessions, doing their work only for requests that use one.

Flask builds the signing serializer and reads six cookie settings for every request, even
one that sends no cookie: a large share of a plain Flask request's cost (profiled in the
template). Here a request without the cookie gets an empty session at once, and an empty
one no view touched is not saved: Flask's answers, without the work.
"""

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
