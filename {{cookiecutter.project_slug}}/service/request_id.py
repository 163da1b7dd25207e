"""X-Request-ID on every response, so one request can be followed from browser to log.

A front-end shows the ID in its error message (it is exposed to scripts through CORS);
the same ID is on the request's access-log line and on any exception it logged.
"""

from __future__ import annotations

import logging
import re
import uuid

from flask import Flask, Response, g, has_request_context, request

HEADER = "X-Request-ID"
# An incoming ID is kept only if it is short and plain: anything else could forge or
# break log lines, so it is replaced, never echoed or logged.
SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def init_app(app: Flask) -> None:
    app.before_request(assign)
    app.after_request(echo)


def assign() -> None:
    incoming = request.headers.get(HEADER, "")
    g.request_id = incoming if SAFE_ID.fullmatch(incoming) else uuid.uuid4().hex


def echo(response: Response) -> Response:
    if "request_id" not in g:  # a request that failed before assign() ran
        assign()
    response.headers[HEADER] = g.request_id
    return response


class RequestIdFilter(logging.Filter):
    """Give every log record a `request_id`: the current request's, or "-"."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            in_request = has_request_context() and "request_id" in g
            record.request_id = g.request_id if in_request else "-"
        return True
