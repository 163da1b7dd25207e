"""The benchmark's plan, as data: the bakes, the server settings each workload runs on,
which run side by side, and the targets the results are held to.

benchmarks/run.py carries it out; benchmarks/document.py writes RESULTS.md from it.
"""

from __future__ import annotations

import runpy
from dataclasses import dataclass
from pathlib import Path

import reporting
import servers
from reporting import Results, Target
from workloads import Burst

# The origin tools/loadcheck.py sends by default, and the template's default CORS_ORIGINS.
ORIGIN = "http://localhost:5173"
IO_PATH = "/bench/io"
QUERY_PATH = "/bench/query"
# A validated query parameter: the generated app checks it against its Pydantic model.
HELLO_PATH = "/api/hello?name=bench"
BAKES: dict[str, dict[str, str]] = {
    "both": {"server": "both"},
    "granian": {"server": "granian"},
    "both-postgresql": {"server": "both", "database": "postgresql"},
    "granian-postgresql": {"server": "granian", "database": "postgresql"},
}
# ./start.sh is timed in the bakes without a database (with one it needs DATABASE_URL).
START_SH_BAKES = ("both", "granian")

# Every setting takes the I/O burst, on the apps its burst_apps name.
IO_SETUPS = [
    servers.LAUNCHER_GTHREAD,
    servers.LAUNCHER_GEVENT,
    servers.WAITRESS_ENTRY,
    servers.GRANIAN_LAUNCHER,
    servers.COOKIECUTTER_FLASK,
    servers.GRANIAN_TUNED,
    servers.GRANIAN_DEFAULTS,
    servers.GUNICORN_W4,
    servers.WAITRESS_T4,
    servers.DEV_SERVER,
]
REFERENCE = servers.COOKIECUTTER_FLASK
# Per-request CPU, as a multiple of plain Flask's on the same server settings, at most.
CPU_LIMIT = 1.3
# The generated launchers also take the steady load (every app in servers.APPS).
LAUNCHERS = [
    servers.LAUNCHER_GTHREAD,
    servers.LAUNCHER_GEVENT,
    servers.WAITRESS_ENTRY,
    servers.GRANIAN_LAUNCHER,
]
CPU_SETUPS = [*LAUNCHERS, servers.GRANIAN_TUNED, servers.GRANIAN_DEFAULTS]
# Granian's targets (issue #14), against the generated gunicorn gthread launcher: burst
# goodput and CPU-light requests/s, as multiples of its own in the same run.
GRANIAN_BURST_VS_GTHREAD = 1.3
GRANIAN_CPU_LIGHT_VS_GTHREAD = 1.4
# Loaded together for that target, so both see the same moments of the machine.
SIDE_BY_SIDE = [servers.LAUNCHER_GTHREAD, servers.GRANIAN_LAUNCHER]
# The burst targets (#13, #14), measured side by side: these apps run together and take
# the burst in turn, round after round, so each ratio compares bursts seconds apart. Next
# to the launchers and the reference: the reference's app (plain Flask + flask-cors) on
# the Gunicorn launchers, and a bare WSGI app on the gthread one, what its worker model
# allows any app.
BURST_SIDE_BY_SIDE = [
    (servers.LAUNCHER_GTHREAD, "app"),
    (servers.LAUNCHER_GTHREAD, "cors"),
    (servers.LAUNCHER_GTHREAD, "bare"),
    (servers.LAUNCHER_GEVENT, "app"),
    (servers.LAUNCHER_GEVENT, "cors"),
    (servers.GRANIAN_LAUNCHER, "app"),
    (servers.GRANIAN_TUNED, "app"),
    (REFERENCE, "cors"),
]
CEILING = servers.LAUNCHER_GEVENT
# The DB-backed burst (#15): the generated launchers again, in the database bakes.
DB_SETUPS = [servers.on_database(setup) for setup in LAUNCHERS]
# Its PostgreSQL server is started from this bake's tests/postgres.py, with room for more
# than the 80 connections a launcher may take (DB_MAX_CONNECTIONS) plus the sampler's.
DB_BAKE = "both-postgresql"
SERVER_MAX_CONNECTIONS = 200


@dataclass(frozen=True)
class Options:
    burst: Burst
    clients: int
    seconds: float
    rounds: int
    results_dir: Path
    ref: str | None


def shipped_defaults(project: Path) -> dict[str, str]:
    """A bake's DEFAULTS: every setting as shipped (service/settings.py)."""
    return runpy.run_path(str(project / "service" / "settings.py"))["DEFAULTS"]


def db_budget(projects: dict[str, Path]) -> int:
    """DB_MAX_CONNECTIONS as shipped: the connections a database bake may hold in all."""
    return int(shipped_defaults(projects[DB_BAKE])["DB_MAX_CONNECTIONS"])


def evaluate(results: Results, db_budget: int) -> list[Target]:
    targets = [reporting.zero_failures(results, setup) for setup in LAUNCHERS]
    targets += burst_targets(results)
    targets += [reporting.cpu_target(results, setup, CPU_LIMIT) for setup in LAUNCHERS]
    targets += granian_targets(results)
    targets += [
        reporting.ready_within(f"{label} (start.sh)", results.start_sh_ready.get(server), 2.0)
        for server, label in (("both", "gunicorn launcher"), ("granian", "granian launcher"))
    ]
    targets += [reporting.zero_failures(results, setup) for setup in DB_SETUPS]
    targets += [reporting.connections_within(results, s, db_budget) for s in DB_SETUPS]
    return targets


def burst_targets(results: Results) -> list[Target]:
    """Goodput on the burst, side by side, against a reference on the same server: the
    gevent launcher against cookiecutter-flask's gevent command, and the gthread launcher
    against the reference's own app (plain Flask + flask-cors) on the same launcher."""
    gevent, gthread = servers.LAUNCHER_GEVENT.key, servers.LAUNCHER_GTHREAD.key
    reference = (REFERENCE.key, REFERENCE.burst_apps[0])
    return [
        reporting.at_least(
            f"burst, side by side: {servers.LAUNCHER_GEVENT.label} >= the reference's req/s",
            reporting.round_ratio(results, (gevent, "app"), reference),
            1,
        ),
        reporting.at_least(
            f"burst, side by side: {servers.LAUNCHER_GTHREAD.label} >= plain Flask + "
            "flask-cors on the same launcher",
            reporting.round_ratio(results, (gthread, "app"), (gthread, "cors")),
            1,
        ),
    ]


def granian_targets(results: Results) -> list[Target]:
    granian, gthread, tuned = (
        servers.GRANIAN_LAUNCHER,
        servers.LAUNCHER_GTHREAD,
        servers.GRANIAN_TUNED,
    )
    return [
        reporting.at_least(
            f"burst, side by side: {granian.label} >= {GRANIAN_BURST_VS_GTHREAD:g}x gthread "
            "launcher's req/s",
            reporting.round_ratio(results, (granian.key, "app"), (gthread.key, "app")),
            GRANIAN_BURST_VS_GTHREAD,
        ),
        reporting.at_least(
            f"burst, side by side: {granian.label} >= the hand-tuned granian row's req/s",
            reporting.round_ratio(results, (granian.key, "app"), (tuned.key, "app")),
            1,
        ),
        reporting.at_least(
            f"CPU-light, side by side: {granian.label} >= {GRANIAN_CPU_LIGHT_VS_GTHREAD:g}x "
            "gthread launcher's req/s",
            reporting.ratio(
                rate(results.side_by_side.get(granian.key)),
                rate(results.side_by_side.get(gthread.key)),
            ),
            GRANIAN_CPU_LIGHT_VS_GTHREAD,
        ),
    ]


def rate(summary: dict[str, object] | None) -> float | None:
    return float(summary["requests_per_second"]) if summary else None  # type: ignore[arg-type]
