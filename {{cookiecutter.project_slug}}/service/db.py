"""The database: `db`, the Flask-SQLAlchemy object that models and views use (`db.session`).

The pool is sized in service/settings.py from the server's concurrency and
DB_MAX_CONNECTIONS. A request that waits DB_POOL_TIMEOUT for a connection, or finds the
database down, is answered with a JSON 503 and Retry-After, never left to hang.
"""

import logging
import threading
import time

from flask import Flask, Response
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import ServiceUnavailable

from service.errors import json_error
from service.settings import PROJECT_DIR, Settings

db = SQLAlchemy()
migrate = Migrate()
log = logging.getLogger(__name__)

# Seconds to open a connection: a database host that does not answer fails the request
# (a 503) instead of holding it until the browser gives up.
CONNECT_TIMEOUT = 3
# Recycle connections older than this: firewalls and proxies drop long-idle ones silently.
RECYCLE_SECONDS = 300
# /readyz asks the database at most this often per process, however often it is probed.
READY_CACHE_SECONDS = 1.0
# The readiness query gives up after this many milliseconds.
READY_STATEMENT_TIMEOUT_MS = 1000
RETRY_AFTER_SECONDS = 1


def engine_options(settings: Settings, pool_size: int, **connect: object) -> dict[str, object]:
    """A bounded pool of `pool_size` connections; `connect`: more libpq parameters."""
    return {
        "pool_size": pool_size,
        # The pool never grows past its size: DB_MAX_CONNECTIONS is a hard budget.
        "max_overflow": 0,
        "pool_timeout": settings.db_pool_timeout,
        # Test each connection as it leaves the pool, so one the database closed (a
        # restart, a failover) is replaced instead of failing the request.
        "pool_pre_ping": True,
        "pool_recycle": RECYCLE_SECONDS,
        "connect_args": {"connect_timeout": CONNECT_TIMEOUT, **connect},
    }


class Readiness:
    """/readyz's database check, on a connection of its own so a busy pool cannot fail
    the probe, with a short timeout, and at most once per READY_CACHE_SECONDS."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.lock = threading.Lock()
        self.use(None)

    def use(self, engine: Engine | None) -> None:
        self.engine = engine
        self.checked_at = float("-inf")
        self.ready = False

    def __call__(self) -> bool:
        with self.lock:
            if time.monotonic() - self.checked_at >= READY_CACHE_SECONDS:
                self.ready = self.check()
                self.checked_at = time.monotonic()
            return self.ready

    def check(self) -> bool:
        if self.engine is None:
            return False
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError as error:
            log.warning("database not ready: %s", first_line(error))
            return False
        return True


database_ready = Readiness()


def init_app(app: Flask, settings: Settings) -> None:
    migrate.init_app(app, db, directory=str(PROJECT_DIR / "migrations"))
    app.register_error_handler(PoolTimeout, unavailable)
    app.register_error_handler(OperationalError, unavailable)
    if settings.database_url is None:
        return  # `flask --app app spec` needs no database; servers refuse to start without
    # Engines are created here, in each worker process (no server here loads the app
    # before it forks), and open connections only when a request needs one.
    app.config["SQLALCHEMY_DATABASE_URI"] = settings.database_url
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(settings, settings.db_pool_size)
    db.init_app(app)
    app.teardown_request(end_session)
    statement_timeout = f"-c statement_timeout={READY_STATEMENT_TIMEOUT_MS}"
    ready_options = engine_options(settings, 1, options=statement_timeout)
    database_ready.use(create_engine(settings.database_url, **ready_options))


def unavailable(error: SQLAlchemyError) -> Response:
    """No free connection within DB_POOL_TIMEOUT, or no database: a 503 the page can read."""
    log.warning("database unavailable: %s", first_line(error))
    return json_error(
        ServiceUnavailable(
            "The database is busy or unavailable; try again shortly.",
            retry_after=RETRY_AFTER_SECONDS,
        )
    )


def end_session(_error: BaseException | None) -> None:
    """Close the request's session once its response is made. When the database went away
    meanwhile, the rollback that closing does fails: that is logged here, where it would
    otherwise escape the request as the server's own 500 page, without CORS headers
    (Flask-SQLAlchemy's teardown lets it through; Airflow met the same:
    https://github.com/apache/airflow/issues/62335). Flask-SQLAlchemy's own teardown then
    finds no session left to close."""
    try:
        db.session.remove()
    except SQLAlchemyError as error:
        log.warning("database connection lost while closing a session: %s", first_line(error))
        db.session.remove()  # the connection is invalidated now: this one only forgets it


def first_line(error: Exception) -> str:
    # SQLAlchemy appends the SQL and a link to its docs on further lines.
    return str(error).strip().splitlines()[0]
