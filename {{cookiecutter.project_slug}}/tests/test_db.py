{%- set gevent = cookiecutter.worker_class == "gevent" and cookiecutter.server in ("gunicorn", "both") -%}
{%- set processes = cookiecutter.server != "waitress" -%}
"""The database against a real, throwaway PostgreSQL (tests/postgres.py): migrations, the
example routes, the pool's limits and what a page sees when the database fails."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from types import SimpleNamespace

import psycopg
import pytest
from flask import Flask
from sqlalchemy import event, text

from app import create_app
from service import db
from service.settings import SettingsError, load_settings
from tests import postgres
from tests.conftest import ALLOWED_ORIGIN, TEST_ENVIRON, require
from tests.test_launchers import PROJECT_DIR, free_port
from tests.test_settings import KEY

# A DATABASE_URL where nothing listens: the connection is refused at once.
NOWHERE = "postgresql://app:secret-password@127.0.0.1:9/app"


@pytest.fixture(scope="session")
def cluster() -> Iterator[postgres.Cluster]:
    require(
        postgres.binaries(),
        "PostgreSQL's server programs (initdb, pg_ctl)",
        "install PostgreSQL (apt-get install postgresql), or set PGBIN to their folder",
    )
    with postgres.throwaway_cluster(free_port()) as running:
        yield running


@pytest.fixture(scope="session")
def migrated(cluster: postgres.Cluster) -> str:
    """An empty database brought to the latest migration by the command users run."""
    url = cluster.create_database("migrated")
    upgrade = python(url, "-m", "flask", "--app", "app", "db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
    return "migrated"


def python(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """This interpreter in the project folder, on the database at `url`."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=PROJECT_DIR,
        env={**os.environ, **TEST_ENVIRON, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def database_url(cluster: postgres.Cluster, migrated: str) -> str:
    """A database of this test's own, already migrated."""
    return cluster.create_database(f"test_{uuid.uuid4().hex[:12]}", template=migrated)


@pytest.fixture
def make_app(database_url: str) -> Iterator[Callable[..., Flask]]:
    """make_app(**environ): the app on this test's database; its connections are closed
    at teardown."""
    made: list[Flask] = []

    def make(**environ: str) -> Flask:
        settings = {**TEST_ENVIRON, "DATABASE_URL": database_url, **environ}
        made.append(create_app({"TESTING": True}, environ=settings))
        return made[-1]

    yield make
    for app in made:
        with app.app_context():
            db.db.engine.dispose()
    if db.database_ready.engine is not None:
        db.database_ready.engine.dispose()
    # /readyz's check is one per process: an app made later (tests/test_fuzz.py's at import)
    # would otherwise open a connection to this database and leave it open.
    db.database_ready.use(None)


# One interpreter for all of it: each `flask db` command is a second of start-up.
MIGRATIONS_ROUND_TRIP = """
from flask_migrate import check, downgrade, upgrade

from app import app

with app.app_context():
    check()  # the models and the migrations agree: exits 1 when a migration is missing
    downgrade(revision="base")
    upgrade()
    check()
"""


def test_migrations_match_the_models_and_go_down_and_up(database_url: str) -> None:
    done = python(database_url, "-c", MIGRATIONS_ROUND_TRIP)
    assert done.returncode == 0, done.stdout + done.stderr


def test_notes_are_created_and_listed_newest_first(make_app: Callable[..., Flask]) -> None:
    client = make_app().test_client()
    for note in ("first", "second"):
        created = client.post("/api/notes", json={"text": note})
        assert created.status_code == 201
        assert created.json["text"] == note
    listed = client.get("/api/notes", headers={"Origin": ALLOWED_ORIGIN})
    assert listed.status_code == 200
    assert [note["text"] for note in listed.json["notes"]] == ["second", "first"]
    assert listed.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN


@pytest.mark.parametrize("body", [{}, {"text": ""}, {"text": 5}, {"text": "x" * 501}, ["x"]])
def test_a_bad_note_is_a_json_422(make_app: Callable[..., Flask], body: object) -> None:
    response = make_app().test_client().post("/api/notes", json=body)
    assert response.status_code == 422
    assert response.json["status"] == 422


def test_an_exhausted_pool_answers_503_within_the_pool_timeout(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    """One connection for the process (budget 2: one pooled, one for /readyz), held by
    another request: the next gets a readable 503 after DB_POOL_TIMEOUT, not a hang."""
    app = make_app(DB_MAX_CONNECTIONS="2", WORKERS="1", DB_POOL_TIMEOUT="1")
    held, release = threading.Event(), threading.Event()

    def hold_the_connection() -> None:
        with app.app_context(), db.db.engine.connect():
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold_the_connection)
    holder.start()
    try:
        assert held.wait(10)
        started = time.monotonic()
        response = app.test_client().get("/api/notes", headers={"Origin": ALLOWED_ORIGIN})
        elapsed = time.monotonic() - started
    finally:
        release.set()
        holder.join()
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert response.json["status"] == 503
    # SQLAlchemy names the wait that ran out: the pool's, for DB_POOL_TIMEOUT's 1 s.
    assert "connection timed out, timeout 1.00" in caplog.text
    # It waited for a connection first; and far less than SQLAlchemy's default of 30 s (a
    # ceiling for a loaded machine: the line above is what says how long the pool waited).
    assert 0.9 < elapsed < 15


def test_no_database_is_a_503_and_not_ready_but_still_alive() -> None:
    app = create_app({"TESTING": True}, environ={**TEST_ENVIRON, "DATABASE_URL": NOWHERE})
    client = app.test_client()
    response = client.get("/api/notes", headers={"Origin": ALLOWED_ORIGIN})
    assert response.status_code == 503
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert client.get("/readyz").status_code == 503
    assert client.get("/readyz").json == {"status": "database unavailable"}
    assert client.get("/healthz").status_code == 200


def test_a_database_lost_before_the_session_closes_still_answers(
    make_app: Callable[..., Flask], cluster: postgres.Cluster
) -> None:
    """The view's query succeeds, then the database ends its connection (a restart, a
    failover) before the session is closed: the page still gets the view's answer."""
    app = make_app()

    @app.get("/test/lost")
    def lost() -> dict[str, int]:
        pid = db.db.session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with psycopg.connect(cluster.url(), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        return {"pid": pid}

    response = app.test_client().get("/test/lost", headers={"Origin": ALLOWED_ORIGIN})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    # The next request gets a working connection from the same pool.
    assert app.test_client().get("/api/notes").status_code == 200


def test_readyz_asks_the_database_at_most_once_a_second(
    make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Probes within a second of the last question share its answer; the first one a
    second later asks again. The readiness check's clock is the test's, not the wall's."""
    client = make_app().test_client()
    now = 1000.0
    monkeypatch.setattr(db, "time", SimpleNamespace(monotonic=lambda: now))
    queries: list[str] = []
    engine = db.database_ready.engine
    assert engine is not None
    event.listen(engine, "before_cursor_execute", lambda *args: queries.append(args[2]))

    def asked_after_probes(at: float) -> int:
        nonlocal now
        now = at
        assert [client.get("/readyz").status_code for _ in range(20)] == [200] * 20
        return queries.count("SELECT 1")

    assert asked_after_probes(1000.0) == 1
    assert asked_after_probes(1000.999) == 1
    assert asked_after_probes(1001.0) == 2
    assert asked_after_probes(1001.5) == 2
    assert asked_after_probes(1002.0) == 3


def test_a_view_sees_its_own_session(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    with app.app_context():
        database = db.db.session.execute(text("SELECT current_database()")).scalar_one()
    assert database.startswith("test_")


# Pool sizing: what each process may hold, all of it within DB_MAX_CONNECTIONS.
# WORKER_CONNECTIONS is what a gevent worker runs at once; THREADS is for the others.
FEW_REQUESTS = {"THREADS": "8", "WORKER_CONNECTIONS": "8"}


@pytest.mark.parametrize(
    ("environ", "pool"),
    [
{%- if processes %}
        # 5 x (15 + 1) = 80: the budget, not the 32 threads, sets the size.
        ({"WORKERS": "5", "THREADS": "32", "DB_MAX_CONNECTIONS": "80"}, 15),
{%- else %}
        # One process: one connection per thread, and one for /readyz.
        ({"THREADS": "32", "DB_MAX_CONNECTIONS": "80"}, 32),
{%- endif %}
        ({"WORKERS": "2", **FEW_REQUESTS, "DB_MAX_CONNECTIONS": "80"}, 8),
        ({"WORKERS": "2", "THREADS": "32", "DB_POOL_SIZE": "10"}, 10),
    ],
)
def test_the_pool_is_sized_to_the_server_and_the_budget(environ: dict[str, str], pool: int) -> None:
    settings = load_settings({**KEY, **environ})
    assert settings.db_pool_size == pool
    assert settings.db_connections <= settings.db_max_connections


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"DB_MAX_CONNECTIONS": "1"}, "DB_MAX_CONNECTIONS=1 cannot hold"),
        ({"DB_MAX_CONNECTIONS": "10", "DB_POOL_SIZE": "16"}, "raise DB_MAX_CONNECTIONS, or lower"),
        ({**FEW_REQUESTS, "DB_POOL_SIZE": "9"}, "DB_POOL_SIZE=9 is more than the 8 requests"),
        ({"DB_POOL_TIMEOUT": "0"}, "DB_POOL_TIMEOUT must be a whole number"),
    ],
)
def test_a_pool_past_the_budget_is_refused(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings({**KEY, **environ})


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "DATABASE_URL is not set"),
        ("mysql://app:secret-password@db/app", "must start with postgresql://"),
        ("postgresql://app:secret-password@/app", "names no host"),
        ("postgresql://app:secret-password@db.internal", "names no database"),
        ("not a url", "could not parse it"),
    ],
)
def test_a_bad_database_url_is_refused_without_its_password(url: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message) as refused:
        load_settings({**KEY, "DATABASE_URL": url})
    assert "secret-password" not in str(refused.value)


PROVIDER_URLS = [
    "postgresql://u:p@db:5432/app",
    "postgres://u:p@db/app",
    "postgresql://u@/app?host=/run/pg",
]


@pytest.mark.parametrize("url", PROVIDER_URLS)
def test_provider_urls_get_the_psycopg_driver(url: str) -> None:
    assert load_settings({**KEY, "DATABASE_URL": url}).database_url.drivername == (
        "postgresql+psycopg"
    )
{%- if gevent %}


# Run in a fresh interpreter: monkey-patching cannot be undone in this one.
GEVENT_QUERIES = """
from gevent import monkey

monkey.patch_all()

import sys

import gevent
import psycopg

URL, QUERIES, LOCK = sys.argv[1], 10, 26026  # an advisory lock no other test takes
WAITING = "SELECT count(*) FROM pg_locks WHERE objid = %s AND NOT granted"


def wait_for_the_lock():
    with psycopg.connect(URL, autocommit=True) as connection:
        # If this query held the thread, no greenlet could ever release the lock.
        connection.execute("SET lock_timeout = '20s'")
        try:
            connection.execute("SELECT pg_advisory_lock_shared(%s)", (LOCK,))
        except psycopg.errors.LockNotAvailable:
            raise SystemExit("a waiting query kept every other greenlet from running")


with psycopg.connect(URL, autocommit=True) as holder:
    holder.execute("SELECT pg_advisory_lock(%s)", (LOCK,))
    queries = [gevent.spawn(wait_for_the_lock) for _ in range(QUERIES)]
    with gevent.Timeout(30, SystemExit("the queries never all waited at once")):
        while holder.execute(WAITING, (LOCK,)).fetchone()[0] < QUERIES:
            gevent.sleep(0.01)
    holder.execute("SELECT pg_advisory_unlock(%s)", (LOCK,))
    gevent.joinall(queries, raise_error=True)
"""


def test_psycopg_lets_other_greenlets_run_while_it_waits(cluster: postgres.Cluster) -> None:
    """The gevent worker runs many requests in one thread: a query must yield to the
    others while it waits, as psycopg 3.1.14 and later do under gevent's monkey-patching.
    Here ten queries wait inside PostgreSQL at once, for a lock that another greenlet
    then releases: queries that held the thread would wait for it forever."""
    done = python(cluster.url(), "-c", GEVENT_QUERIES, cluster.url())
    assert done.returncode == 0, done.stderr
{%- endif %}
