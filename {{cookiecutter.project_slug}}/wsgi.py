{%- set waitress = cookiecutter.server in ("waitress", "both") -%}
{%- set database = cookiecutter.database == "postgresql" -%}
{%- if cookiecutter.server == "granian" -%}
{%- set metrics = cookiecutter.include_metrics -%}
"""The entry point: `python wsgi.py` (what ./start.sh and start.ps1 run) serves the app with
Granian, sized to hold a burst of parallel browser requests. Settings: service/settings.py.
"""

import logging
import multiprocessing
import sys

from flask import Flask

from service import logs
from service.launch import capacity_line, {% if database %}database_budget, {% endif %}raise_open_file_limit{% if metrics %}, start_metrics_dir{% endif %}
from service.settings import SettingsError, load_settings
from service.watchdog import Watchdog

# Connections waiting to be accepted; the kernel caps it (net.core.somaxconn).
BACKLOG = 2048
# Connections each worker takes in at once, idle keep-alive ones included; the rest wait
# in the backlog. Granian's default (backlog / workers) is used up by a burst's kept-alive
# connections and the requests behind them fail; the backlog's size holds the whole burst
# (the template's benchmarks/RESULTS.md, "granian, its defaults").
BACKPRESSURE = 2048
HEADER_BUFFER = 64 * 1024


def worker_app() -> Flask:
    """The app, as each Granian worker calls for it. Imported there, not by the main
    process, so that a reload (HUP) starts workers on the new code."""
    from app import app

    return set_up_worker(app)


def set_up_worker(app: Flask) -> Flask:
    """A worker's own log writer, and a watchdog for requests that hang."""
    settings = app.config["SETTINGS"]
    logs.configure(settings)
    app.wsgi_app = Watchdog(app.wsgi_app, settings.timeout, settings.graceful_timeout)  # type: ignore[method-assign]
    return app


def serve(target: str = "wsgi:worker_app") -> None:
    """Serve the app `target` ("module:function") returns in each worker."""
    from granian import Granian
    from granian.constants import Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels

    try:
        settings = load_settings()
    except SettingsError as error:
        sys.exit(f"error: {error}")
    in_flight = settings.workers * BACKPRESSURE
    raise_open_file_limit(in_flight + 64)
    # Each worker a fresh interpreter (Windows' and, through Granian, Python 3.14's way): a
    # reload (HUP) loads every changed module, and a stop signal that reaches a worker
    # still starting ends it, where a forked one would lose the signal and hold the stop
    # up for GRACEFUL_TIMEOUT.
    multiprocessing.set_start_method("spawn", force=True)
{%- if metrics %}
    start_metrics_dir("{{ cookiecutter.project_slug }}")
{%- endif %}
    server = Granian(
        target,
        factory=True,
        interface=Interfaces.WSGI,
        address=settings.host,
        port=settings.port,
        # Processes (one on Windows, all Granian runs there), each running up to THREADS
        # requests of this Python app at once while its Rust threads do the network I/O.
        # Granian warns that THREADS past 2 x cores + 1 "seems quite high": for handlers
        # that wait on I/O it is what holds a burst (README, "Granian").
        workers=settings.workers,
        blocking_threads=settings.threads,
        backlog=BACKLOG,
        backpressure=BACKPRESSURE,
        websockets=False,  # WSGI has none
        # A request's line and headers may take 64 KiB, far above what browsers send;
        # Granian's default (408 KiB) let one 300 KB header through to the app.
        http1_settings=HTTP1Settings(max_buffer_size=HEADER_BUFFER),
        # Granian's own lines in this service's format, to the same places.
        log_dictconfig=logs.logging_config(settings),
        log_level=LogLevels(settings.log_level.lower()),
        # A worker that dies is replaced; a stop or reload (HUP) gives in-flight requests
        # GRACEFUL_TIMEOUT seconds to finish, then kills what is left.
        respawn_failed_workers=True,
        workers_kill_timeout=settings.graceful_timeout,
    )
    capacity = capacity_line(settings.workers, settings.threads, in_flight)
{%- if database %}
    capacity += database_budget(settings)
{%- endif %}
    logging.getLogger("wsgi").info(capacity)
    server.serve()


if __name__ == "__main__":
    serve()
{%- else -%}
"""The WSGI entry point.
{%- if cookiecutter.server != "waitress" %}

Gunicorn imports `wsgi:app` (see start.sh and gunicorn.conf.py).
{%- endif %}
{%- if waitress %}
Run as a script, `python wsgi.py` serves the app with Waitress, the production
server that also runs on Windows.
{%- endif %}
"""

{% if waitress -%}
import logging
import select
import signal
import sys

from app import app
from service import logs
from service.launch import capacity_line, {% if database %}database_budget, {% endif %}raise_open_file_limit
from service.settings import SettingsError, ready_to_serve

# Open connections Waitress accepts before it stops reading new ones. A page's burst
# of preflight+request pairs needs one each: on Waitress's defaults (100 connections,
# 4 threads) most of the template's benchmark burst failed. poll() has no descriptor
# limit; Windows only has select(), which CPython caps at 512 sockets there, so the limit
# stays below that.
USE_POLL = hasattr(select, "poll") and sys.platform != "win32"
CONNECTION_LIMIT = 4000 if USE_POLL else 500
# Connections waiting to be accepted; the kernel caps it (net.core.somaxconn).
BACKLOG = 2048
# Seconds an idle connection is kept before Waitress closes it.
CHANNEL_TIMEOUT = 60


def serve() -> None:
    """Serve `app` with Waitress, sized to hold a burst of parallel browser requests."""
    from waitress import serve as waitress_serve

    try:
        settings = ready_to_serve(app.config["SETTINGS"])
    except SettingsError as error:
        sys.exit(f"error: {error}")
    logs.configure(settings)
    # INT (Ctrl+C) and TERM (a process manager's stop) both end the serve loop, so the
    # last batched log lines are written on the way out. Set here, not inherited: as a
    # container's PID 1 Python would ignore TERM, and after a script's `python wsgi.py &`
    # it ignores INT.
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, lambda *_: sys.exit(0))
    raise_open_file_limit(CONNECTION_LIMIT + 64)
    capacity = capacity_line(1, settings.threads, CONNECTION_LIMIT)
{%- if database %}
    capacity += database_budget(settings)
{%- endif %}
    logging.getLogger("waitress").info(capacity)
    waitress_serve(
        app,
        listen=settings.listen_address,
        threads=settings.threads,
        connection_limit=CONNECTION_LIMIT,
        backlog=BACKLOG,
        channel_timeout=CHANNEL_TIMEOUT,
        asyncore_use_poll=USE_POLL,
        # Keep X-Forwarded-* for the app: service/middleware.py believes them only from
        # FORWARDED_ALLOW_IPS, the same rule under every server.
        clear_untrusted_proxy_headers=False,
    )


if __name__ == "__main__":
    serve()
{%- else -%}
import sys

from app import app

__all__ = ["app"]

if __name__ == "__main__":
    # Never fall back to app.run(): the development server is what this project replaces.
    sys.exit("wsgi.py is Gunicorn's import target; start the service with ./start.sh")
{%- endif %}
{%- endif %}
