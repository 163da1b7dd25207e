{%- set metrics = cookiecutter.include_metrics -%}
"""Gunicorn settings, read by ./start.sh (`gunicorn --config gunicorn.conf.py wsgi:app`).

Values come from the environment and `.env` (see service/config.py for the defaults),
so a deployment is tuned with environment variables, never by editing this file.
"""

import os
import signal
import sys
{%- if metrics %}
import tempfile
{%- endif %}
import threading
import time
{%- if metrics %}
from pathlib import Path
{%- endif %}

from gunicorn.glogging import Logger

from service import health
from service.config import (
    GUNICORN_DEFAULTS,
    SettingsError,
    choice,
    integer,
    load_settings,
    read_environment,
)
from service.launch import capacity_line, listen_address, raise_open_file_limit
from service.logs import logging_config

# gthread: threads per worker plus an event loop that parks idle keep-alive
#   connections, so a page's burst waits in memory instead of being refused. No
#   monkey-patching: safe with every library. The default.
# gevent: one greenlet per connection, about twice gthread's throughput on a burst of
#   I/O-bound requests, but it monkey-patches the standard library: database drivers
#   with C sockets must cooperate (psycopg2 needs psycogreen; mysqlclient and the
#   grpc library block the whole worker), and CPU-bound handlers starve the rest.
# sync: one request per process, no keep-alive. Only for CPU-bound apps behind a
#   buffering proxy (nginx): idle or slow browser connections stall it (the common
#   `gunicorn -w 4` lost half of a 200-page burst).
WORKER_CLASSES = ("gthread", "gevent", "sync")

try:
    settings = load_settings()
    env = read_environment(GUNICORN_DEFAULTS)
    worker_class = choice(env, "WORKER_CLASS", WORKER_CLASSES)
    # Processes: WORKERS, "auto" = 2 x cores + 1 (typical range 2-4 x cores).
    workers = settings.workers
    # Requests each gthread worker runs at once: THREADS, sized for I/O-bound handlers.
    # (Gunicorn would quietly turn sync into gthread if threads were above 1.)
    threads = settings.threads if worker_class == "gthread" else 1
    # Open connections per worker, busy or idle (gthread and gevent): the burst budget.
    worker_connections = integer(env, "WORKER_CONNECTIONS")
    # A worker whose handler blocks longer than TIMEOUT seconds is killed and replaced.
    timeout = integer(env, "TIMEOUT")
    # On TERM or HUP, in-flight requests get GRACEFUL_TIMEOUT seconds to finish.
    graceful_timeout = integer(env, "GRACEFUL_TIMEOUT")
    # Seconds an idle keep-alive connection waits for the page's next request (1-5 s
    # behind a proxy that reuses connections, longer only if browsers talk directly).
    keepalive = integer(env, "KEEPALIVE", minimum=0)
    # Restart a worker after this many requests (0: never). Off by default: a gthread
    # worker's restart resets its open connections, which a page sees as CORS errors.
    # Turn it on only to contain a memory leak; the jitter spreads the restarts out.
    max_requests = integer(env, "MAX_REQUESTS", minimum=0)
    max_requests_jitter = max_requests // 10
except SettingsError as error:
    # One clear line instead of Gunicorn's "Failed to read config file" traceback.
    sys.exit(f"error: {error}")

# --- Where to listen
bind = [listen_address(settings)]
# Connections waiting to be accepted; the kernel caps it at net.core.somaxconn.
backlog = 2048
# Proxies whose X-Forwarded-Proto is believed (FORWARDED_ALLOW_IPS); others are ignored.
forwarded_allow_ips = ",".join(settings.forwarded_allow_ips)

# --- Workers
# Heartbeat files on a disk-backed /tmp can stall workers; /dev/shm is memory.
# (Only the worker's own heartbeat file goes there, so a shared dir is safe.)
if os.path.isdir("/dev/shm"):  # noqa: S108  # nosec B108
    worker_tmp_dir = "/dev/shm"  # noqa: S108  # nosec B108

# --- Logging
# stderr (and LOG_FILE), as text or JSON; the app itself writes one access-log line per
# request with its duration, the same under Gunicorn and Waitress.
logconfig_dict = logging_config(settings)


class AppWritesTheAccessLog(Logger):
    """Gunicorn's logger without its access log.

    With logconfig_dict set, Gunicorn builds its own access line for every request, even
    though logging_config() silences it: about 17 us a request, for nothing.
    """

    def access(self, resp, req, environ, request_time):
        pass


logger_class = AppWritesTheAccessLog
proc_name = "{{ cookiecutter.project_slug }}"

# --- Control
# Gunicorn's control socket lives at one per-user path that every Gunicorn on the
# host shares, so two services would fight over it; signals (HUP, TTIN, TTOU) do
# the same jobs.
control_socket_disable = True


def concurrency() -> int:
    """Requests one worker runs at once under the chosen worker class."""
    return {"gthread": threads, "gevent": worker_connections, "sync": 1}[worker_class]


# A gthread worker hands each new connection to a thread that waits up to 5 s for the
# request before parking it in the worker's event loop. Browsers' speculative
# preconnects send nothing, so a page's worth of them would hold every thread for 5 s
# and stall real requests behind them. Real requests arrive within milliseconds of
# the connection; after this long an idle one is parked instead, costing no thread.
GTHREAD_FIRST_DATA_WAIT = 0.1


def on_starting(server):
    raise_open_file_limit(workers * worker_connections + 64)
{%- if metrics %}
    start_metrics_dir()
{%- endif %}
    if worker_class == "gthread":
        from gunicorn.workers import gthread

        if hasattr(gthread, "DEFAULT_WORKER_DATA_TIMEOUT"):
            gthread.DEFAULT_WORKER_DATA_TIMEOUT = GTHREAD_FIRST_DATA_WAIT
        else:
            server.log.warning("gthread's first-data wait is no longer patchable: still 5 s")


def when_ready(server):
    server.log.info(capacity_line(workers, concurrency(), workers * worker_connections))


# A new worker runs with the master's signal handlers until it has set its own, which
# a gevent worker does only after monkey-patching: a stop sent in that window went to
# the master's queue in the worker's memory and was lost, and the stop then waited
# GRACEFUL_TIMEOUT (30 s) for that worker. Held from fork until the worker is ready,
# such a signal is delivered to the worker's own handler instead.
STOP_SIGNALS = {signal.SIGTERM, signal.SIGQUIT, signal.SIGINT}


def post_fork(server, worker):
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def post_worker_init(worker):
    # /readyz turns 503 the moment this worker is told to stop, while it finishes the
    # requests it has; then Gunicorn's own handler runs.
    stop = signal.getsignal(signal.SIGTERM)

    def on_term(signum, frame):
        health.mark_draining()
        stop(signum, frame)

    signal.signal(signal.SIGTERM, on_term)
    if worker_class != "sync":
        threading.Thread(target=watch_for_hung_requests, args=(worker,), daemon=True).start()
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


# --- Hung requests
# TIMEOUT replaces a sync worker stuck in a handler. A gthread or gevent worker keeps
# heartbeating while one request hangs, so that request would hold its thread for good.
# This watchdog gives it the same fate: past TIMEOUT, the worker stops gracefully (its
# other requests finish, /readyz turns 503), the hung one dies with it, and the master
# starts a fresh worker.
_request_started: dict[int, float] = {}


def pre_request(worker, req):
    _request_started[threading.get_ident()] = time.monotonic()


def post_request(worker, req, environ, resp):
    _request_started.pop(threading.get_ident(), None)


def watch_for_hung_requests(worker):
    while worker.alive:
        time.sleep(1)
        started = min(list(_request_started.values()), default=time.monotonic())
        if time.monotonic() - started > timeout:
            worker.log.error("a request ran over TIMEOUT (%s s): replacing this worker", timeout)
            os.kill(os.getpid(), signal.SIGTERM)
            return
{%- if metrics %}


def start_metrics_dir():
    """An empty PROMETHEUS_MULTIPROC_DIR for this run; workers inherit it at fork."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory is None:
        directory = tempfile.mkdtemp(prefix=f"{proc_name}-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    # Files of an earlier run would add its counts to this one's.
    for stale in Path(directory).glob("*.db"):
        stale.unlink()


def child_exit(server, worker):
    # Drop the dead worker's share of live gauges (requests in flight); its counters stay.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
{%- endif %}
