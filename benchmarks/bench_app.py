"""The apps under benchmark, copied into the baked project as `bench_app.py`.

- `app`: the generated app (create_app(), untouched) plus `/bench/io`, a view that
  waits 50 ms on "I/O" (time.sleep, which gevent's monkey-patching makes cooperative);
  in a database=postgresql bake also `/bench/query`, the same 50 ms on the database
  (`SELECT pg_sleep(0.05)` through `db.session`, so through the generated pool).
- `plain`: a plain Flask app with the same `/api/hello`, its `name` checked by hand: what
  our stack (APIFlask validating it against a Pydantic model) is compared to.
- `logged`: `plain` writing the generated app's access-log line for each request
  (service/middleware.py), as an access log kept by the launcher would.
- `cors`: `plain` with flask-cors added and the same 50 ms route, as a team adds it to
  cookiecutter-flask's app: the reference row.
- `bare`: a bare WSGI app, no framework: the ceiling for a server setting. It answers
  preflights and requests with a CORS header so the load check accepts them, and
  `/bench/io` waits 50 ms like the generated route.

Gunicorn and Granian's command line import `bench_app:<name>`. The other servers run
this file as a script:
    python bench_app.py waitress-entry|waitress-threads-4|dev-server|granian-entry APP
with APP one of app, plain, logged, cors, bare, and HOST and PORT from the environment.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from app import create_app
from flask import Flask, request
from flask_cors import CORS
from service import middleware

IO_PATH = "/bench/io"
QUERY_PATH = "/bench/query"
IO_WAIT_SECONDS = 0.05
HELLO = b'{"message":"Hello, world!"}\n'
MAX_NAME = 100
# Only a database=postgresql bake ships service/db.py (and needs DATABASE_URL to start).
DATABASE = (Path(__file__).resolve().parent / "service" / "db.py").exists()


def io_view() -> dict[str, int]:
    time.sleep(IO_WAIT_SECONDS)
    return {"waited_ms": int(IO_WAIT_SECONDS * 1000)}


def query_view() -> dict[str, int]:
    # Imported here: the other bakes have no service.db.
    from service.db import db
    from sqlalchemy import text

    db.session.execute(text("SELECT pg_sleep(:seconds)"), {"seconds": IO_WAIT_SECONDS})
    return {"queried_ms": int(IO_WAIT_SECONDS * 1000)}


def hello_view() -> tuple[dict[str, str], int]:
    # The generated /api/hello's contract, checked by hand as a team without a schema
    # would: the cost the generated app's validation is compared with.
    name = request.args.get("name", "world")
    if not 1 <= len(name) <= MAX_NAME:
        return {"message": f"name must have 1 to {MAX_NAME} characters"}, 422
    return {"message": f"Hello, {name}!"}, 200


def build_app() -> Flask:
    generated = create_app()
    generated.add_url_rule(IO_PATH, "bench_io", io_view)
    if DATABASE:
        generated.add_url_rule(QUERY_PATH, "bench_query", query_view)
    return generated


def build_plain() -> Flask:
    plain_app = Flask("plain")
    plain_app.add_url_rule("/api/hello", "hello", hello_view)
    return plain_app


def build_cors() -> Flask:
    cors_app = build_plain()
    cors_app.add_url_rule(IO_PATH, "bench_io", io_view)
    CORS(cors_app, origins=os.environ.get("CORS_ORIGINS", "*").split(","), max_age=600)
    return cors_app


def with_access_line(wsgi_app: Callable[..., Any]) -> Callable[..., Any]:
    """`wsgi_app` plus the generated app's access-log line, and nothing else of its stack."""

    def logged(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started, answered = time.perf_counter(), ["500"]

        def respond(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answered[0] = status
            return start_response(status, headers, exc_info)

        try:
            return wsgi_app(environ, respond)
        finally:
            middleware.log_request(environ, answered[0], time.perf_counter() - started)

    return logged


def bare(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    headers = [("Content-Type", "application/json"), ("Access-Control-Allow-Origin", "*")]
    if environ["REQUEST_METHOD"] == "OPTIONS":
        headers += [
            ("Access-Control-Allow-Methods", "GET"),
            ("Access-Control-Allow-Headers", "Authorization"),
            ("Content-Length", "0"),
        ]
        start_response("200 OK", headers)
        return [b""]
    if environ["PATH_INFO"] == IO_PATH:
        time.sleep(IO_WAIT_SECONDS)
    start_response("200 OK", [*headers, ("Content-Length", str(len(HELLO)))])
    return [HELLO]


app = build_app()
plain = build_plain()
logged = with_access_line(build_plain())
cors = build_cors()
TARGETS: dict[str, Callable[..., Any]] = {
    "cors": cors,
    "app": app,
    "plain": plain,
    "logged": logged,
    "bare": bare,
}


def waitress_entry(target: Callable[..., Any]) -> None:
    """The generated `python wsgi.py`: wsgi.serve() with its constants, serving `target`."""
    import waitress
    import wsgi

    if target is app:
        # serve() serves wsgi.app, and reads its settings from it.
        wsgi.app = app
    else:
        # Plain, logged and bare apps have no settings: wsgi.app stays the generated app and
        # only the app handed to Waitress is swapped, every server option unchanged.
        # serve() imports waitress.serve when called, so it picks up this wrapper.
        real_serve = waitress.serve
        waitress.serve = lambda _app, **options: real_serve(target, **options)
    wsgi.serve()


def granian_entry(target: Callable[..., Any]) -> None:
    """The generated `python wsgi.py` of a server=granian bake: wsgi.serve() with its
    settings, each worker's app from granian_worker()."""
    import wsgi

    os.environ["BENCH_TARGET"] = next(name for name, app in TARGETS.items() if app is target)
    wsgi.serve("bench_app:granian_worker")


def granian_worker() -> Callable[..., Any]:
    """A Granian worker's app: BENCH_TARGET's, with the generated worker's set-up (log
    writer, hung-request watchdog) as wsgi.worker_app() gives the generated app."""
    import wsgi
    from service.watchdog import Watchdog

    wsgi.set_up_worker(app)
    target = TARGETS[os.environ["BENCH_TARGET"]]
    if target is app:
        return app
    settings = app.config["SETTINGS"]
    return Watchdog(target, settings.timeout, settings.graceful_timeout)


def waitress_threads_4(target: Callable[..., Any]) -> None:
    """The common advice: `serve(app, threads=4)`, every other limit at its default."""
    from waitress import serve

    serve(target, host=os.environ["HOST"], port=int(os.environ["PORT"]), threads=4)


def dev_server(target: Callable[..., Any]) -> None:
    """Flask's development server as `app.run(threaded=True)` starts it."""
    from werkzeug.serving import run_simple

    run_simple(os.environ["HOST"], int(os.environ["PORT"]), target, threaded=True)


MODES = {
    "waitress-entry": waitress_entry,
    "waitress-threads-4": waitress_threads_4,
    "dev-server": dev_server,
    "granian-entry": granian_entry,
}

if __name__ == "__main__":
    mode, name = sys.argv[1:3]
    MODES[mode](TARGETS[name])
