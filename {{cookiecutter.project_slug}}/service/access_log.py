"""One access-log line per request, written by the app so it is the same under every server."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

logger = logging.getLogger("access")


def printable(text: str) -> str:
    """`text` with control characters escaped: a request must not forge log lines."""
    return text.encode("unicode_escape").decode("ascii")


class AccessLog:
    """WSGI middleware: time the app, then log method, path, status and who asked."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        response: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            response.update(status=status, headers=headers)
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, capture)
        finally:
            log_request(environ, response, time.perf_counter() - started)


def log_request(environ: WSGIEnvironment, response: dict[str, Any], seconds: float) -> None:
    fields = {
        "method": printable(environ.get("REQUEST_METHOD", "")),
        "path": printable(environ.get("PATH_INFO", "")),
        "status": int(response.get("status", "500").split()[0]),
        "duration_ms": round(seconds * 1000, 1),
        "request_id": dict(response.get("headers", [])).get("X-Request-ID", "-"),
        "client": environ.get("REMOTE_ADDR", "-"),
        "origin": printable(environ.get("HTTP_ORIGIN", "-")),
    }
    logger.info(
        "%(method)s %(path)s %(status)s %(duration_ms)sms client=%(client)s origin=%(origin)s",
        fields,
        extra=fields,
    )
