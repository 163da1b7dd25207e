"""Replaces a worker whose request runs past TIMEOUT.

A handler that never returns holds one of its worker's THREADS until the service stops:
{%- if cookiecutter.server == "granian" %}
Granian has no request timeout.
{%- else %}
Gunicorn's own timeout only sees a worker stop heartbeating, which its gthread and gevent
workers go on doing.
{%- endif %}

Past TIMEOUT this stops the worker as a stop signal would: it takes no new connections,
its other requests get GRACEFUL_TIMEOUT to finish, then it exits and the server starts a
fresh one.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger(__name__)


class Watchdog:
    """WSGI middleware that notes when each thread's request started, and a thread that
    checks them every second."""

    def __init__(self, app: WSGIApplication, timeout: int, graceful_timeout: int) -> None:
        self.app = app
        self.timeout = timeout
        self.graceful_timeout = graceful_timeout
        self.started: dict[int, float] = {}
        threading.Thread(target=self.watch, name="watchdog", daemon=True).start()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        thread = threading.get_ident()
        self.started[thread] = time.monotonic()
        try:
            return self.app(environ, start_response)
        finally:
            del self.started[thread]

    def watch(self) -> None:
        while True:
            time.sleep(1)
            oldest = min(list(self.started.values()), default=time.monotonic())
            if time.monotonic() - oldest > self.timeout:
                break
        log.error("a request ran over TIMEOUT (%s s): replacing this worker", self.timeout)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(self.graceful_timeout)
        log.error("requests still running after GRACEFUL_TIMEOUT: ending this worker")
        logging.shutdown()  # the last log lines, written before the exit skips it
        os._exit(1)
