"""Headers every response carries, errors included."""

from __future__ import annotations

SECURITY_HEADERS = (
    # Browsers must not guess a JSON body is HTML or script.
    ("X-Content-Type-Options", "nosniff"),
    # An API is never framed; both headers, for old and new browsers.
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
    ("Referrer-Policy", "no-referrer"),
)
# Browsers that reached us over HTTPS keep to HTTPS for a year. Over plain HTTP the
# header would be ignored anyway.
HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")


def add_security_headers(headers: list[tuple[str, str]], *, https: bool) -> None:
    """Add to a WSGI header list what the view did not set itself, and Vary: Origin."""
    present = {name.lower() for name, _ in headers}
    for header in (*SECURITY_HEADERS, HSTS) if https else SECURITY_HEADERS:
        if header[0].lower() not in present:
            headers.append(header)
    vary_on_origin(headers)


def vary_on_origin(headers: list[tuple[str, str]]) -> None:
    """CORS headers depend on the request's Origin, also when they are left out for a
    refused origin, so shared caches must key on it. flask-cors only says so when
    several origins are configured."""
    varies = [index for index, (name, _) in enumerate(headers) if name.lower() == "vary"]
    listed = {token.strip().lower() for index in varies for token in headers[index][1].split(",")}
    if listed & {"origin", "*"}:
        return
    if varies:
        name, value = headers[varies[0]]
        headers[varies[0]] = (name, f"{value}, Origin")
    else:
        headers.append(("Vary", "Origin"))
