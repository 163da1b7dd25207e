{%- set gunicorn = cookiecutter.server in ("gunicorn", "both") -%}
{%- set waitress = cookiecutter.server in ("waitress", "both") -%}
{%- set granian = cookiecutter.server == "granian" -%}
"""One logging setup for every server: stderr always, plus LOG_FILE when it is set.

LOG_FORMAT=json writes one JSON object per line (log collectors), text is for people. Every
line carries its request's ID ("-" outside one); `access` writes each access line.
"""

import contextlib
import logging
import logging.config
import os
import signal
import threading
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from service.settings import Settings

# The ID of the request being answered (service/middleware.py sets it): each thread and
# each greenlet sees its own. A view passes it on to the services it calls.
request_id: ContextVar[str] = ContextVar("request_id", default="-")

TEXT_FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s [%(request_id)s]: %(message)s"
# Lines wait at most this long before they are written (web servers' buffered access logs
# make the same trade).
FLUSH_SECONDS = 0.2
# Pipes (Docker, systemd) keep a write of up to 4 KiB whole, so lines from several worker
# processes never interleave.
CHUNK_BYTES = 4096
APPEND = os.O_WRONLY | os.O_APPEND | os.O_CREAT


# One request's access line as its values, formatted later by the writer thread: (time
# since the epoch, request ID, method, path, status line, seconds taken, client, origin).
AccessEntry = tuple[float, str, str, str, str, float, str, str]


class BatchedLines(logging.Handler):
    """Formats each record on the thread that logs it (an access line on the writer
    thread: AccessLog) and writes the lines in batches: at most FLUSH_SECONDS later, at
    once for WARNING and above, and at exit. A write() per line would hand the GIL to
    another of the worker's threads and back, every request."""

    def __init__(self, path: Path | None = None) -> None:
        super().__init__()
        self.fd = 2 if path is None else os.open(path, APPEND, 0o640)  # 2: stderr
        self.closed = False
        self.start()
{%- if waitress or granian %}
        if hasattr(os, "register_at_fork"):  # a forked worker needs a writer of its own
            os.register_at_fork(after_in_child=self.start)
{%- else %}
        os.register_at_fork(after_in_child=self.start)  # a forked worker needs its own
{%- endif %}

    def start(self) -> None:
        if self.closed:
            return
        self.lines: list[bytes | AccessEntry] = []
        self.due = threading.Event()
        writer = threading.Thread(target=self.write_periodically, daemon=True)
{%- if waitress or granian %}
        if not hasattr(signal, "pthread_sigmask"):  # Windows
            writer.start()
            return
{%- endif %}
        # The writer takes no signals, so a stop signal for the process always reaches the
        # main thread, which runs the handlers (a new thread inherits the signal mask).
        unblocked = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
        try:
            writer.start()
        finally:  # a thread that fails to start must not leave this one deaf to signals
            signal.pthread_sigmask(signal.SIG_SETMASK, unblocked)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.add(self.format(record).encode("utf-8", "backslashreplace") + b"\n")
        except Exception:
            self.handleError(record)
        if record.levelno >= logging.WARNING:
            self.due.set()

    def add(self, line: bytes | AccessEntry) -> None:
        """Queue one encoded line (newline included), or an access line's values."""
        self.lines.append(line)

    def write_periodically(self) -> None:
        while not self.closed:
            self.due.wait(FLUSH_SECONDS)
            self.due.clear()
            self.flush()

    def flush(self) -> None:
        # Swap the list first: lines logged meanwhile go to the new one.
        lines, self.lines = self.lines, []
        if not lines:
            return
        chunk = b""
        for line in lines:
            data = line if isinstance(line, bytes) else self.render(line)
            if chunk and len(chunk) + len(data) > CHUNK_BYTES:
                self.write(chunk)
                chunk = b""
            chunk += data
        self.write(chunk)

    @staticmethod
    def render(entry: AccessEntry) -> bytes:
        try:
            return access.render(entry)
        except Exception:  # one bad entry must not stop the writer, and every line after it
            return f"access line not formatted: {entry!a}\n".encode()

    def write(self, data: bytes) -> None:
        with contextlib.suppress(OSError):  # stderr closed: nowhere left to report it
            while data:
                data = data[os.write(self.fd, data) :]

    def close(self) -> None:
        self.flush()
        self.closed = True
        self.due.set()
        if self.fd != 2:
            os.close(self.fd)
        super().close()


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (ISO 8601, UTC), level, process, logger, message,
    request_id, the record's `fields` (`log.info(..., extra={"fields": {...}})`) and the
    traceback. orjson: the json module took ten times the CPU per line."""

    def format(self, record: logging.LogRecord) -> str:
        line = {"time": datetime.fromtimestamp(record.created, UTC), "level": record.levelname}
        line |= {"process": record.process, "logger": record.name, "message": record.getMessage()}
        line |= {"request_id": getattr(record, "request_id", "-"), **getattr(record, "fields", {})}
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


class AccessLog:
    """Each request's access line, in the format of every other line. The request only
    queues its values onto the batches; the writer thread formats them with the rest of
    the batch, where a formatted line costs a fraction of what it costs between two
    requests' work (profiled in the template). No LogRecord, caller look-up, filters or
    lock per request either. The "access" logger's level still turns it off."""

    def __init__(self) -> None:
        self.logger = logging.getLogger("access")
        self.handlers: list[BatchedLines] = []
        self.json = True

    @property
    def enabled(self) -> bool:
        return bool(self.handlers) and self.logger.isEnabledFor(logging.INFO)

    def write(self, entry: AccessEntry) -> None:
        for handler in self.handlers:
            handler.add(entry)

    def render(self, entry: AccessEntry) -> bytes:
        """The line for `entry`, newline included; control characters a request sent are
        escaped, so that it cannot forge log lines."""
        at, current, method, path, status, seconds, client, origin = entry
        method, path = printable(method), printable(path)
        client, origin = printable(client), printable(origin)
        code, duration_ms = int(status[:3]), round(seconds * 1000, 1)
        message = f"{method} {path} {code} {duration_ms}ms client={client} origin={origin}"
        if not self.json:
            # TEXT_FORMAT's line, with logging's default time stamp.
            stamp = datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M:%S,%f")[:-3]
            text = f"{stamp} INFO [{os.getpid()}] access [{current}]: {message}\n"
            return text.encode("utf-8", "backslashreplace")
        line = {
            "time": datetime.fromtimestamp(at, UTC),
            "level": "INFO",
            "process": os.getpid(),
            "logger": "access",
            "message": message,
            "request_id": current,
            "method": method,
            "path": path,
            "status": code,
            "duration_ms": duration_ms,
            "client": client,
            "origin": origin,
        }
        return orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE)


def printable(text: str) -> str:
    """`text` with control characters escaped."""
    if text.isascii() and text.isprintable():
        return text
    return text.encode("unicode_escape").decode("ascii")


access = AccessLog()


class RequestIdFilter(logging.Filter):
    """Give every log record a `request_id`: the current request's, or "-"."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        return True


def configure(settings: Settings) -> None:
    """Send every logger's records, the servers' own included, to stderr and LOG_FILE."""
    logging.config.dictConfig(logging_config(settings))
    root = logging.getLogger()
    access.handlers = [handler for handler in root.handlers if isinstance(handler, BatchedLines)]
    access.json = settings.log_format == "json"


def logging_config(settings: Settings) -> dict[str, Any]:
    """configure()'s `logging.config.dictConfig` dict."""
    handler = {"formatter": settings.log_format, "filters": ["request_id"]}
    handlers: dict[str, dict[str, Any]] = {"stderr": {"()": BatchedLines, **handler}}
    if settings.log_file is not None:
        handlers["file"] = {"()": BatchedLines, "path": settings.log_file, **handler}
    names = list(handlers)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"text": {"format": TEXT_FORMAT}, "json": {"()": JsonFormatter}},
        "handlers": handlers,
        "root": {"level": settings.log_level, "handlers": names},
        "loggers": {
{%- if gunicorn %}
            # Gunicorn's loggers do not propagate: they get the same handlers.
            "gunicorn.error": {"handlers": names, "propagate": False},
{%- endif %}
{%- if granian %}
            # Granian's loggers do not propagate: they get the same handlers.
            "_granian": {"handlers": names, "propagate": False},
{%- endif %}
{%- if waitress %}
            # Waitress warns for every request that waits for a thread; in a burst that
            # is the design working, and thousands of lines would bury real problems.
            "waitress.queue": {"level": "ERROR"},
{%- endif %}
        },
    }
