{%- set metrics = cookiecutter.include_metrics -%}
"""Gunicorn settings, read by ./start.sh (`gunicorn --config gunicorn.conf.py wsgi:app`).

Every value comes from service/settings.py (environment variables and `.env`), so a
deployment is tuned with environment variables, never by editing this file.
"""

import os
import sys

from service import logs
from service.gunicorn_hooks import (  # noqa: F401  (Gunicorn calls these by name)
{%- if metrics %}
    child_exit,
{%- endif %}
    on_starting,
    post_worker_init,
    pre_fork,
    when_ready,
)
from service.settings import SettingsError, load_settings

try:
    settings = load_settings()
except SettingsError as error:
    # One clear line instead of Gunicorn's "Failed to read config file" traceback.
    sys.exit(f"error: {error}")

# --- Where to listen
bind = [settings.listen_address]
# Connections waiting to be accepted, so a page's burst is queued, not refused; the
# kernel caps it at net.core.somaxconn.
backlog = 2048
# Proxies whose X-Forwarded-Proto Gunicorn believes; the app applies the same list.
forwarded_allow_ips = ",".join(settings.forwarded_allow_ips)

# --- Workers
{%- if cookiecutter.worker_class == "gevent" %}
# gevent: one greenlet per connection, switched whenever it waits on I/O, so a worker
# keeps up to WORKER_CONNECTIONS requests in flight without a thread for each: more
# throughput than gthread on I/O-bound bursts. It monkey-patches the standard library, so
# database drivers must cooperate (psycopg2 needs psycogreen; mysqlclient and grpc block
# the whole worker) and a CPU-bound handler stalls the worker's other requests. gthread:
# threads, safe with every library.
{%- else %}
# gthread: threads, plus a loop that parks idle keep-alive connections; safe with every
# library. gevent: greenlets, faster on I/O-bound bursts, for libraries that cooperate.
{%- endif %}
worker_class = settings.worker_class
# Processes (WORKERS): "auto" = 2 x cores + 1.
workers = settings.workers
# Requests each gthread worker runs at once (THREADS); gevent ignores it.
threads = settings.threads
# Open connections per worker, busy or idle (gthread, gevent): the burst budget.
worker_connections = settings.worker_connections
# A worker stuck in a request longer than this is replaced (service/watchdog.py).
timeout = settings.timeout
# On TERM or HUP, in-flight requests get this long to finish.
graceful_timeout = settings.graceful_timeout
# Seconds an idle keep-alive connection waits (1-5 s behind a proxy that reuses them).
keepalive = settings.keepalive
# Restart a worker after this many requests (0: never): it resets the worker's open
# connections, which pages see as CORS errors, so only to contain a memory leak.
max_requests = settings.max_requests
max_requests_jitter = settings.max_requests // 10
# Heartbeat files on a disk-backed /tmp can stall workers; /dev/shm (Linux) is memory.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108  # nosec B108

# --- Logging
# The app writes one access line per request (service/middleware.py). Gunicorn gets no
# logging config of its own: handed one, it would also build its own access line for
# every request (benoitc/gunicorn#2240). Its messages use the handlers set up here.
logs.configure(settings)
errorlog = None
loglevel = settings.log_level.lower()
proc_name = "{{ cookiecutter.project_slug }}"

# --- Control
# Its one per-user path is shared by every Gunicorn on the host; signals do the same jobs.
control_socket_disable = True
