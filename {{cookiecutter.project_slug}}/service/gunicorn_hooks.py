{%- set metrics = cookiecutter.include_metrics -%}
"""Gunicorn's server hooks, named in gunicorn.conf.py: what the service adds to Gunicorn's
own process management, and the workarounds its behaviour forces, each with its reason."""

from __future__ import annotations

import os
import signal
{%- if metrics %}
import tempfile
{%- endif %}
import threading
import time
{%- if metrics %}
from pathlib import Path
{%- endif %}
from typing import Any

from service import health
from service.launch import capacity_line, raise_open_file_limit

# The gthread worker's wait for a new connection's first bytes, in seconds (see below).
GTHREAD_FIRST_DATA_WAIT = 0.1
STOP_SIGNALS = {signal.SIGTERM, signal.SIGQUIT, signal.SIGINT}


def on_starting(server: Any) -> None:
    # Every worker may hold WORKER_CONNECTIONS sockets at once.
    raise_open_file_limit(server.cfg.workers * server.cfg.worker_connections + 64)
    if server.cfg.worker_class_str == "gthread":
        shorten_gthread_first_data_wait(GTHREAD_FIRST_DATA_WAIT)
{%- if metrics %}
    start_metrics_dir(server.cfg.proc_name)
{%- endif %}


def when_ready(server: Any) -> None:
    cfg = server.cfg
    per_worker = cfg.threads if cfg.worker_class_str == "gthread" else cfg.worker_connections
    server.log.info(capacity_line(cfg.workers, per_worker, cfg.workers * cfg.worker_connections))


def post_fork(server: Any, worker: Any) -> None:
    hold_stop_signals(True)


def post_worker_init(worker: Any) -> None:
    # /readyz turns 503 the moment this worker is told to stop, while it finishes the
    # requests it has; then Gunicorn's own handler runs.
    gunicorn_stop = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: Any) -> None:
        health.mark_draining()
        gunicorn_stop(signum, frame)  # type: ignore[operator]

    signal.signal(signal.SIGTERM, on_term)
    threading.Thread(target=replace_when_hung, args=(worker,), daemon=True).start()
    hold_stop_signals(False)


# --- Hung requests
# Gunicorn's TIMEOUT replaces a worker that stops heartbeating. gthread and gevent workers
# heartbeat from their main loop while a request hangs in a thread or greenlet, so that
# request would hold its thread for good. Past TIMEOUT, this watchdog stops the worker
# gracefully instead: its other requests finish, /readyz turns 503, the hung one ends with
# it and Gunicorn starts a fresh worker.
_started: dict[int, float] = {}


def pre_request(worker: Any, req: Any) -> None:
    _started[threading.get_ident()] = time.monotonic()


def post_request(worker: Any, req: Any, environ: Any, resp: Any) -> None:
    _started.pop(threading.get_ident(), None)


def replace_when_hung(worker: Any) -> None:
    timeout = worker.cfg.timeout
    while worker.alive:
        time.sleep(1)
        oldest = min(list(_started.values()), default=time.monotonic())
        if time.monotonic() - oldest > timeout:
            worker.log.error("a request ran over TIMEOUT (%s s): replacing this worker", timeout)
            os.kill(os.getpid(), signal.SIGTERM)
            return


# --- Workarounds for Gunicorn's behaviour; tests/test_gunicorn_workarounds.py in the
# template fails once either is no longer needed.


def shorten_gthread_first_data_wait(seconds: float) -> None:
    """A gthread worker hands each new connection to a thread that waits up to 5 s for
    its first bytes (https://github.com/benoitc/gunicorn/issues/3634, fix proposed in
    https://github.com/benoitc/gunicorn/pull/3635). Browsers open speculative connections
    that send nothing: a page's worth of them held every thread for 5 s, stalling real
    requests. Real requests arrive within milliseconds; idle ones are parked sooner."""
    from gunicorn.workers import gthread

    gthread.DEFAULT_WORKER_DATA_TIMEOUT = seconds


def hold_stop_signals(hold: bool) -> None:
    """A new worker runs the master's signal handlers until it sets its own, which a gevent
    worker does only after monkey-patching; a stop signal in that window is lost and the
    stop then waits GRACEFUL_TIMEOUT for that worker
    (https://github.com/benoitc/gunicorn/issues/1910). Held from fork until the worker's
    own handlers are set, the signal reaches them instead."""
    signal.pthread_sigmask(signal.SIG_BLOCK if hold else signal.SIG_UNBLOCK, STOP_SIGNALS)
{%- if metrics %}


# --- Metrics (service/metrics.py): one file per worker, summed at scrape time.


def start_metrics_dir(name: str) -> None:
    """An empty PROMETHEUS_MULTIPROC_DIR for this run; workers inherit it at fork."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory is None:
        directory = tempfile.mkdtemp(prefix=f"{name}-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    # Files of an earlier run would add its counts to this one's.
    for stale in Path(directory).glob("*.db"):
        stale.unlink()


def child_exit(server: Any, worker: Any) -> None:
    # Drop the dead worker's share of live gauges (requests in flight); its counters stay.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
{%- endif %}
