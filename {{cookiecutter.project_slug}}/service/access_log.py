"""One access-log line per request, written by the app so it is the same under every server."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

logger = logging.getLogger("access")
MESSAGE = "%(method)s %(path)s %(status)s %(duration_ms)sms client=%(client)s origin=%(origin)s"


def printable(text: str) -> str:
    """`text` with control characters escaped: a request must not forge log lines."""
    if text.isascii() and text.isprintable():
        return text
    return text.encode("unicode_escape").decode("ascii")


def log_request(environ: WSGIEnvironment, status: str, seconds: float) -> None:
    """Log one answered request; the request ID comes from the logging filter."""
    if not logger.isEnabledFor(logging.INFO):
        return
    fields = {
        "method": printable(environ.get("REQUEST_METHOD", "")),
        "path": printable(environ.get("PATH_INFO", "")),
        "status": int(status[:3]),
        "duration_ms": round(seconds * 1000, 1),
        "client": environ.get("REMOTE_ADDR", "-"),
        "origin": printable(environ.get("HTTP_ORIGIN", "-")),
    }
    logger.info(MESSAGE, fields, extra=fields)
