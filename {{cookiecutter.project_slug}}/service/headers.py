"""Headers every response carries, errors included."""

from __future__ import annotations

from flask import Flask, Response, request

SECURITY_HEADERS = {
    # Browsers must not guess a JSON body is HTML or script.
    "X-Content-Type-Options": "nosniff",
    # An API is never framed; both headers, for old and new browsers.
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}
# Browsers that reached us over HTTPS keep to HTTPS for a year.
HSTS = "max-age=31536000; includeSubDomains"


def init_app(app: Flask) -> None:
    app.after_request(add_headers)


def add_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    # is_secure is true over TLS, or behind a proxy in FORWARDED_ALLOW_IPS that says
    # X-Forwarded-Proto: https. Over plain HTTP the header would be ignored anyway.
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    # CORS headers depend on the request's Origin, also when they are left out for a
    # refused origin, so shared caches must key on it. flask-cors only adds it when
    # several origins are configured.
    response.vary.add("Origin")
    return response
