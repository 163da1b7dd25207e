{%- set waitress = cookiecutter.server in ("waitress", "both") -%}
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
from service.launch import capacity_line, raise_open_file_limit

# Open connections Waitress accepts before it stops reading new ones. A page's burst
# of preflight+request pairs needs one each: the default of 100 loses 94% of a
# 200-page burst. poll() has no descriptor limit; Windows only has select(), which
# CPython caps at 512 sockets there, so the limit stays below that.
USE_POLL = hasattr(select, "poll") and sys.platform != "win32"
CONNECTION_LIMIT = 4000 if USE_POLL else 500
# Connections waiting to be accepted; the kernel caps it (net.core.somaxconn).
BACKLOG = 2048
# Seconds an idle connection is kept before Waitress closes it.
CHANNEL_TIMEOUT = 60


def serve() -> None:
    """Serve `app` with Waitress, sized to hold a burst of parallel browser requests."""
    from waitress import serve as waitress_serve

    settings = app.config["SETTINGS"]
    logs.configure(settings)
    # INT (Ctrl+C) and TERM (a process manager's stop) both end the serve loop, so the
    # last batched log lines are written on the way out. Set here, not inherited: as a
    # container's PID 1 Python would ignore TERM, and after a script's `python wsgi.py &`
    # it ignores INT.
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, lambda *_: sys.exit(0))
    raise_open_file_limit(CONNECTION_LIMIT + 64)
    logging.getLogger("waitress").info(capacity_line(1, settings.threads, CONNECTION_LIMIT))
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
