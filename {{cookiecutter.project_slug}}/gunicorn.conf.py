"""Gunicorn settings, read by ./start.sh (`gunicorn --config gunicorn.conf.py wsgi:app`).

Values come from the environment and `.env` through service.config, so a deployment
is tuned with environment variables, never by editing this file.
"""

import os
import sys

from service.config import SettingsError, load_settings
from service.launch import capacity_line, listen_address, raise_open_file_limit
from service.logs import logging_config

try:
    settings = load_settings()
except SettingsError as error:
    # One clear line instead of Gunicorn's "Failed to read config file" traceback.
    sys.exit(f"error: {error}")

# --- Where to listen
bind = [listen_address(settings)]
# Connections waiting to be accepted; the kernel caps it at net.core.somaxconn.
backlog = 2048

# --- Capacity
# gthread: each worker runs `threads` requests at once and parks idle keep-alive
# connections in an event loop, so a page's burst of preflight+request pairs waits
# in memory instead of being refused. Sync workers hold one connection each: the
# common `gunicorn -w 4` loses half of such a burst.
worker_class = "gthread"
# Processes: WORKERS, "auto" = 2 x cores + 1 (typical range 2-4 x cores).
workers = settings.workers
# Requests each worker runs at once: THREADS, sized for handlers that wait on I/O.
threads = settings.threads
# Open connections each worker keeps, busy or idle (Gunicorn's default).
worker_connections = 1000

# --- Timeouts
# A worker whose handler blocks this long is killed and replaced.
timeout = 30
# On TERM or HUP, in-flight requests get this long to finish.
graceful_timeout = 30
# Seconds an idle keep-alive connection stays open for the page's next request.
keepalive = 5
# Heartbeat files on a disk-backed /tmp can stall workers; /dev/shm is memory.
# (Only the worker's own heartbeat file goes there, so a shared dir is safe.)
if os.path.isdir("/dev/shm"):  # noqa: S108
    worker_tmp_dir = "/dev/shm"  # noqa: S108

# --- Logging
logconfig_dict = logging_config(settings)
# Access log with the request duration in milliseconds (%(M)s).
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
proc_name = "{{ cookiecutter.project_slug }}"

# --- Control
# Gunicorn's control socket lives at one per-user path that every Gunicorn on the
# host shares, so two services would fight over it; signals (HUP, TTIN, TTOU) do
# the same jobs.
control_socket_disable = True


def on_starting(server):
    raise_open_file_limit(workers * worker_connections + 64)


def when_ready(server):
    server.log.info(capacity_line(workers, threads, workers * worker_connections))
