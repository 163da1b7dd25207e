"""X-Request-ID on every response, so one request can be followed from browser to log.

A front-end shows the ID in its error message (it is exposed to scripts through CORS);
the same ID is on the request's access-log line and on any exception it logged.
service/edge.py assigns it; views read it with `request_id.current.get()`.
"""

from __future__ import annotations

import logging
import re
import secrets
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

HEADER = "X-Request-ID"
# An incoming ID is kept only if it is short and plain: anything else could forge or
# break log lines, so it is replaced, never echoed or logged.
SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# The ID of the request being answered. Each thread (Gunicorn gthread, Waitress) and
# each greenlet (Gunicorn gevent) sees its own; "-" outside a request.
current: ContextVar[str] = ContextVar("request_id", default="-")


def from_environ(environ: WSGIEnvironment) -> str:
    """The caller's ID when it is safe to keep, else a new random one."""
    incoming = environ.get("HTTP_X_REQUEST_ID", "")
    return incoming if SAFE_ID.fullmatch(incoming) else secrets.token_hex(16)


class RequestIdFilter(logging.Filter):
    """Give every log record a `request_id`: the current request's, or "-"."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current.get()
        return True
