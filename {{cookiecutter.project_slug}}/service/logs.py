"""One logging setup for both servers: stderr always, plus LOG_FILE when it is set.

LOG_FORMAT=json writes one JSON object per line for log collectors; text is for people.
Every record carries the request ID of the request it belongs to ("-" outside one).
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
from logging.handlers import QueueHandler, QueueListener
from typing import Any

from service.config import Settings
from service.request_id import RequestIdFilter

TEXT_FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s [%(request_id)s]: %(message)s"
JSON_FIELDS = "%(levelname)s %(process)d %(name)s %(message)s"
FORMATTERS = {
    "text": {"format": TEXT_FORMAT},
    "json": {
        "()": "pythonjsonlogger.json.JsonFormatter",
        "fmt": JSON_FIELDS,
        # An ISO 8601 UTC "time" field, which every log collector parses.
        "timestamp": "time",
        "rename_fields": {"levelname": "level", "name": "logger"},
    },
}
# WatchedFileHandler reopens the file after logrotate moves it; it exists on POSIX only.
FILE_HANDLER = "logging.FileHandler" if os.name == "nt" else "logging.handlers.WatchedFileHandler"


def logging_config(settings: Settings) -> dict[str, Any]:
    """A `logging.config.dictConfig` dict, also used as Gunicorn's `logconfig_dict`."""
    handler = {"formatter": settings.log_format, "filters": ["request_id"]}
    handlers: dict[str, dict[str, Any]] = {
        "stderr": {"class": "logging.StreamHandler", **handler},
    }
    if settings.log_file is not None:
        handlers["file"] = {"class": FILE_HANDLER, "filename": str(settings.log_file), **handler}
    names = list(handlers)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "service.request_id.RequestIdFilter"}},
        "formatters": {settings.log_format: FORMATTERS[settings.log_format]},
        "handlers": handlers,
        "root": {"level": settings.log_level, "handlers": names},
        "loggers": {
            # Gunicorn's own loggers do not propagate: give them the same handlers.
            "gunicorn.error": {"level": settings.log_level, "handlers": names, "propagate": False},
            # The app writes the access log (service/access_log.py), the same under both
            # servers; Gunicorn's own would repeat every line.
            "gunicorn.access": {"handlers": [], "propagate": False},
            # Waitress warns for every request that waits for a thread; in a burst that is
            # the design working, and thousands of lines would bury real problems.
            "waitress.queue": {"level": "ERROR"},
        },
    }


class InProcessQueueHandler(QueueHandler):
    """A QueueHandler for a queue that never leaves the process.

    The base class formats each record on the request's thread and strips its traceback
    so it could be pickled: twice the formatting work, and exceptions that reach the
    JSON log as text in "message" instead of their own "exc_info" field.
    """

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        # Merge the arguments now: they may change after the request moves on.
        record.msg, record.args = record.getMessage(), None
        return record


def write_from_one_thread() -> None:
    """Let request threads only queue their log records; one thread formats and writes.

    For Waitress, whose threads all share one process with its I/O loop: with each of
    them writing its own access-log line, they queued for the stream's lock and the GIL,
    and a 1,600-request burst fell from 800 to 270 requests/s. Gunicorn spreads requests
    over worker processes, where the hand-off to a thread would only add CPU per request
    (measured: about 130 us with gthread, 190 us with gevent). Call once, after logging
    is configured.
    """
    root = logging.getLogger()
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    handler = InProcessQueueHandler(records)
    # The request ID is read here, on the request's own thread.
    handler.addFilter(RequestIdFilter())
    listener = QueueListener(records, *root.handlers, respect_handler_level=True)
    root.handlers = [handler]
    listener.start()
    atexit.register(listener.stop)  # write what is queued before the process ends
