"""database=postgresql under every launcher, against a real PostgreSQL: a page's burst on a
route that queries, the connections it takes, and the database failing mid-burst.

The server is the throwaway cluster the baked project's own tests use (its
tests/postgres.py, loaded from a bake), so both suites start PostgreSQL the same way.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.support import (
    SHIPPED_START,
    Burst,
    Launched,
    access_log,
    add_programs,
    finish_burst,
    free_port,
    granian_command,
    gunicorn_command,
    load_module,
    raw_request,
    require_tool,
    run,
    schemathesis,
    waitress_command,
)

# The fault app plus a route whose work is a database query of `seconds`.
# Each launcher: the answers of its bake, and how it starts the fault app with the
# database route (tests/programs/db_fault_app.py) there.
LAUNCHERS = {
    "gunicorn-gthread": ({"server": "gunicorn"}, gunicorn_command("db_fault_app:app")),
    "gunicorn-gevent": (
        {"server": "gunicorn", "worker_class": "gevent"},
        gunicorn_command("db_fault_app:app"),
    ),
    "waitress": ({"server": "waitress"}, waitress_command("db_fault_app")),
    "granian": ({"server": "granian"}, granian_command("db_fault_app:worker_app")),
}
ORIGIN = "http://localhost:5173"  # the bakes' default CORS_ORIGINS, which the load check sends
# The launchers run 2 workers; each pools what the budget leaves it (2 x (19 + 1) = 40).
WORKERS, BUDGET = "2", 40


@pytest.fixture(scope="module")
def db_projects(cookies_session) -> Callable[[str], Path]:
    """db_projects(launcher): its database=postgresql bake with the fault app, baked once."""
    baked: dict[str, Path] = {}

    def project(launcher: str) -> Path:
        if launcher not in baked:
            answers = {**LAUNCHERS[launcher][0], "database": "postgresql"}
            result = cookies_session.bake(extra_context=answers)
            assert result.exit_code == 0, result.exception
            baked[launcher] = Path(result.project_path)
            add_programs(baked[launcher], "fault_app.py", "db_fault_app.py")
        return baked[launcher]

    return project


@pytest.fixture(scope="module")
def postgres(db_projects: Callable[[str], Path]) -> ModuleType:
    """The baked project's tests/postgres.py; skipped (failed under CI) without a server."""
    path = db_projects("gunicorn-gthread") / "tests" / "postgres.py"
    module = load_module(path, "baked_postgres")
    require_tool(
        module.binaries() is not None,
        "PostgreSQL (initdb, pg_ctl)",
        "apt-get install postgresql",
    )
    return module


@pytest.fixture(scope="module")
def cluster(postgres: ModuleType) -> Iterator[object]:
    """One server for this module's tests, each on a database of its own."""
    with postgres.throwaway_cluster(free_port()) as running:
        yield running


@pytest.fixture
def own_cluster(postgres: ModuleType) -> Iterator[object]:
    """A server of this test's own, for a test that stops and starts it."""
    with postgres.throwaway_cluster(free_port()) as running:
        yield running


@pytest.fixture
def serve(
    launch: Callable[..., Launched], db_projects: Callable[[str], Path]
) -> Callable[..., tuple[Launched, str]]:
    """serve(launcher, cluster, **env): the fault app on a new database of `cluster`
    (/test/query needs no table), healthy; with that database's name."""

    def start(launcher: str, cluster: object, **env: str) -> tuple[Launched, str]:
        project = db_projects(launcher)
        database = f"service_{uuid.uuid4().hex[:12]}"
        url = cluster.create_database(database)  # type: ignore[attr-defined]
        settings = {"WORKERS": WORKERS, "DB_MAX_CONNECTIONS": str(BUDGET), "LOG_FORMAT": "json"}
        settings |= env
        server = launch(project, LAUNCHERS[launcher][1], DATABASE_URL=url, **settings)
        server.wait_healthy(seconds=30)
        return server, database

    return start


@contextlib.contextmanager
def peak_connections(cluster: object, database: str) -> Iterator[list[int]]:
    """The most connections to `database` seen at once, sampled every 10 ms meanwhile
    (from another database, so the sampler never counts itself)."""
    import psycopg

    peak = [0]
    done = threading.Event()

    def sample() -> None:
        with psycopg.connect(cluster.url("postgres"), autocommit=True) as connection:  # type: ignore[attr-defined]
            while not done.wait(0.01):
                with contextlib.suppress(psycopg.Error):
                    row = connection.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (database,)
                    ).fetchone()
                    peak[0] = max(peak[0], row[0] if row else 0)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        yield peak
    finally:
        done.set()
        sampler.join(timeout=10)


def queries_answered(server: Launched, status: int) -> list[float]:
    """The milliseconds each GET of /test/query answered with `status` took, in the
    service's own access log."""
    return [
        record["duration_ms"]
        for record in access_log(server.output())
        if (record["method"], record["path"], record["status"]) == ("GET", "/test/query", status)
    ]


def wait_for_queries(cluster: object, database: str, seconds: float = 20) -> None:
    """Until the burst's queries run on the server (the load check takes a while to start)."""
    import psycopg

    deadline = time.monotonic() + seconds
    with psycopg.connect(cluster.url("postgres"), autocommit=True) as connection:  # type: ignore[attr-defined]
        query = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND state = 'active'"
        while (row := connection.execute(query, (database,)).fetchone()) and row[0] < 5:
            assert time.monotonic() < deadline, f"no queries running within {seconds} s"
            time.sleep(0.02)


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_a_burst_of_queries_fails_nothing_within_the_connection_budget(
    serve: Callable[..., tuple[Launched, str]],
    burst: Callable[..., Burst],
    cluster: object,
    launcher: str,
) -> None:
    """40 pages x 8 pairs whose GETs each run a 50 ms query: every pair answered, and the
    server never sees more connections than DB_MAX_CONNECTIONS."""
    server, database = serve(launcher, cluster)
    url = f"http://127.0.0.1:{server.port}/test/query?seconds=0.05"
    with peak_connections(cluster, database) as peak:
        summary = finish_burst(burst(server.project, url, pages=40, parallel=8))
    print(f"{launcher}: {summary}, peak {peak[0]} connections of {BUDGET}")
    assert summary["failed_pairs"] == 0, summary
    assert 0 < peak[0] <= BUDGET, f"peak {peak[0]} connections, budget {BUDGET}"
    processes = "1" if launcher == "waitress" else WORKERS
    assert f"database: {processes} process(es) x" in server.output()


@pytest.mark.parametrize("launcher", ["gunicorn-gthread", "granian"])
def test_the_database_stopping_mid_burst_is_answered_and_then_recovered(
    serve: Callable[..., tuple[Launched, str]],
    burst: Callable[..., Burst],
    own_cluster: object,
    launcher: str,
) -> None:
    """PostgreSQL stops while queries run: every request is still answered within the
    client's 5 s (a 503 with CORS headers, no hang, no failed preflight); once it is back,
    the same processes serve queries again."""
    server, database = serve(launcher, own_cluster)
    url = f"http://127.0.0.1:{server.port}/test/query?seconds=0.2"
    running = burst(server.project, url, pages=30, parallel=8, timeout=5)
    wait_for_queries(own_cluster, database)
    # A few rounds of queries answered first.
    deadline = time.monotonic() + 20
    while len(queries_answered(server, 200)) < 16:
        assert running.poll() is None, "the burst ended before the database stopped"
        assert time.monotonic() < deadline, "no 16 queries answered within 20 s"
        time.sleep(0.02)
    own_cluster.stop("fast")  # type: ignore[attr-defined]
    summary = finish_burst(running)
    print(f"{launcher}, database stopped mid-burst: {summary}")
    # Some pairs answered before the stop, the rest with a 503: the fault struck mid-burst.
    assert set(summary["failures"]) == {"GET status 503"}, summary
    assert summary["failed_pairs"] < summary["pairs"], summary
    status, headers, body = raw_request(server.port, "GET", "/test/query", Origin=ORIGIN)
    assert status == 503, body
    assert headers["Access-Control-Allow-Origin"] == ORIGIN
    assert headers["Retry-After"] == "1"
    assert raw_request(server.port, "GET", "/readyz")[0] == 503

    own_cluster.start()  # type: ignore[attr-defined]
    deadline = time.monotonic() + 10
    while raw_request(server.port, "GET", "/test/query")[0] != 200:
        assert time.monotonic() < deadline, "no recovery within 10 s of the database's return"
        time.sleep(0.2)
    assert server.process.poll() is None


def test_an_exhausted_pool_answers_503_within_its_timeout(
    serve: Callable[..., tuple[Launched, str]], burst: Callable[..., Burst], cluster: object
) -> None:
    """A budget of 2 (one pooled connection, one for /readyz) and 0.5 s queries: the
    requests that cannot get the connection within DB_POOL_TIMEOUT get a 503, each soon
    after that timeout; no preflight fails and nothing waits for the client's timeout."""
    server, _ = serve(
        "gunicorn-gthread",
        cluster,
        WORKERS="1",
        DB_MAX_CONNECTIONS="2",
        DB_POOL_TIMEOUT=str(POOL_TIMEOUT),
    )
    url = f"http://127.0.0.1:{server.port}/test/query?seconds=0.5"
    summary = finish_burst(burst(server.project, url, pages=4, parallel=8, timeout=5))
    # One process: this request's access line follows every line of the burst.
    raw_request(server.port, "GET", "/healthz", **{"X-Request-ID": "after-the-burst"})
    server.wait_for_output("after-the-burst")
    refused = queries_answered(server, 503)
    print(f"pool of 1, 0.5 s queries: {summary}; 503s after {sorted(refused)} ms")
    assert set(summary["failures"]) == {"GET status 503"}, summary
    assert summary["failed_pairs"] < summary["pairs"], "no request got the connection"
    assert summary["seconds"] < 5, summary
    # Each 503 once the pool's timeout ran out, not sooner and not much later.
    assert len(refused) == summary["failed_pairs"], refused
    assert all(POOL_TIMEOUT * 1000 <= ms < (POOL_TIMEOUT + 1) * 1000 for ms in refused), refused


# DB_POOL_TIMEOUT for the exhausted pool (seconds): a 503 comes this long after the
# request asked for a connection, plus at most a second for the rest of its work.
POOL_TIMEOUT = 1


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_schemathesis_finds_nothing_on_the_database_routes(
    launch: Callable[..., Launched],
    db_projects: Callable[[str], Path],
    cluster: object,
    launcher: str,
) -> None:
    """The contract of tests/test_contract.py, with the notes routes on a migrated
    database, started as users start the service."""
    project = db_projects(launcher)
    url = cluster.create_database(f"contract_{uuid.uuid4().hex[:12]}")  # type: ignore[attr-defined]
    upgrade = [sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"]
    migrated = run(upgrade, project, timeout=120, DATABASE_URL=url)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    server = LAUNCHERS[launcher][0]["server"]
    service = launch(project, SHIPPED_START[server], WORKERS="2", DATABASE_URL=url)
    service.wait_healthy(seconds=30)

    found = schemathesis(project, service.url)

    print(f"{launcher}: {found.stdout.strip().splitlines()[-1]}")
    assert found.returncode == 0, found.stdout[-6000:] + found.stderr[-2000:]
