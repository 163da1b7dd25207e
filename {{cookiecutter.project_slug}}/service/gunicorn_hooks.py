{%- set metrics = cookiecutter.include_metrics -%}
{%- set database = cookiecutter.database == "postgresql" -%}
"""Gunicorn's server hooks (gunicorn.conf.py names them), and the workarounds it forces."""

import os
import signal
import socket
from typing import Any

from service import health
from service.launch import capacity_line, {% if database %}database_budget, {% endif %}raise_open_file_limit{% if metrics %}, start_metrics_dir{% endif %}
{%- if database %}
from service.settings import load_settings
{%- endif %}
from service.watchdog import Watchdog

STOP_SIGNALS = {signal.SIGTERM, signal.SIGQUIT, signal.SIGINT}


def on_starting(server: Any) -> None:
    # Every worker may hold WORKER_CONNECTIONS sockets at once.
    raise_open_file_limit(server.cfg.workers * server.cfg.worker_connections + 64)
    # pre_fork holds stop signals for each new worker; the master takes them again at once.
    os.register_at_fork(after_in_parent=lambda: hold_stop_signals(False))
{%- if metrics %}
    start_metrics_dir(server.cfg.proc_name)
{%- endif %}


def when_ready(server: Any) -> None:
    cfg = server.cfg
    per_worker = cfg.threads if cfg.worker_class_str == "gthread" else cfg.worker_connections
    capacity = capacity_line(cfg.workers, per_worker, cfg.workers * cfg.worker_connections)
{%- if database %}
    capacity += database_budget(load_settings())
{%- endif %}
    server.log.info(capacity)
    if cfg.worker_class_str == "gthread":
        accept_once_data_arrives(server.LISTENERS)


def pre_fork(server: Any, worker: Any) -> None:
    # The new worker starts with its stop signals held, until post_worker_init.
    hold_stop_signals(True)


def post_worker_init(worker: Any) -> None:
    # /readyz turns 503 the moment this worker is told to stop, while it finishes the
    # requests it has; then Gunicorn's own handler runs.
    gunicorn_stop = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: Any) -> None:
        health.draining.set()
        gunicorn_stop(signum, frame)  # type: ignore[operator]

    signal.signal(signal.SIGTERM, on_term)
    if worker.cfg.worker_class_str == "gthread":
        quit_from_the_main_loop(worker)
    # Gunicorn's TIMEOUT replaces a worker that stops heartbeating, which gthread and
    # gevent workers go on doing while a request hangs: the watchdog replaces it instead.
    # Its thread starts while stop signals are held, so it never takes one.
    worker.wsgi = Watchdog(worker.wsgi, worker.cfg.timeout, worker.cfg.graceful_timeout)
    hold_stop_signals(False)


# Seconds Linux keeps a connection that has sent nothing before a worker accepts it
# anyway (it rounds up, to about 15 s): longer than a browser keeps a preconnect unused.
DEFER_ACCEPT_SECONDS = 10


def accept_once_data_arrives(listeners: list[Any]) -> None:
    """A gthread worker gives each connection it accepts a thread, which waits up to 5 s
    for the request (https://github.com/benoitc/gunicorn/issues/3634). Linux can accept a
    connection only once its request has arrived (a deferred accept), so no thread waits
    on a client still sending or on a browser's unused preconnect. macOS has no such
    option: there, threads wait."""
    for listener in listeners:
        if hasattr(socket, "TCP_DEFER_ACCEPT") and listener.sock.family != socket.AF_UNIX:
            listener.sock.setsockopt(
                socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, DEFER_ACCEPT_SECONDS
            )


# --- Workarounds for Gunicorn (the template's tests fail once one is no longer needed)


def quit_from_the_main_loop(worker: Any) -> None:
    """gthread's QUIT and INT handler (Ctrl+C) shuts the thread pool down, which takes the
    lock that the pool's submit() holds while it starts a thread, as on a worker's first
    requests: a signal landing there deadlocks the worker until GRACEFUL_TIMEOUT
    (https://github.com/python/cpython/issues/121649). Run from the worker's main loop,
    as Gunicorn does for gevent (https://github.com/benoitc/gunicorn/pull/1128), the
    handler never runs inside submit()."""

    def defer_quit(signum: int, frame: Any) -> None:
        worker.method_queue.defer(worker.handle_quit, signum, None)

    signal.signal(signal.SIGQUIT, defer_quit)
    signal.signal(signal.SIGINT, defer_quit)


def hold_stop_signals(hold: bool) -> None:
    """A new worker runs the master's handlers until it sets its own (gevent: after
    monkey-patching); a stop signal in between is lost and the stop waits GRACEFUL_TIMEOUT
    (https://github.com/benoitc/gunicorn/issues/1910). Held until then, it is not."""
    signal.pthread_sigmask(signal.SIG_BLOCK if hold else signal.SIG_UNBLOCK, STOP_SIGNALS)
{%- if metrics %}


# --- Metrics (service/metrics.py)


def child_exit(server: Any, worker: Any) -> None:
    # Drop the dead worker's share of live gauges (requests in flight); its counters stay.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
{%- endif %}
