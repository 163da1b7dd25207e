"""RESULTS.md: the machine and settings, each workload's method at the head of its
section, its tables, and the targets. The method is written here, once."""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path

import cputime
import reporting
from plan import (
    BURST_SIDE_BY_SIDE,
    CEILING,
    CPU_SETUPS,
    DB_BAKE,
    DB_SETUPS,
    HELLO_PATH,
    IO_PATH,
    IO_SETUPS,
    QUERY_PATH,
    REFERENCE,
    SERVER_MAX_CONNECTIONS,
    SIDE_BY_SIDE,
    Options,
    rate,
    shipped_defaults,
)
from reporting import Results, Target

PACKAGES = (
    *("flask", "flask-cors", "werkzeug", "gunicorn", "gevent", "waitress", "granian"),
    "aiohttp",
)
# The bakes, each baked into OUTPUT/<name> with these answers: Gunicorn and Waitress in
# one, Granian in another, and each again with a database for the DB-backed burst.


def settings_used(projects: dict[str, Path]) -> str:
    both, granian, db = (shipped_defaults(projects[name]) for name in ("both", "granian", DB_BAKE))
    cores = cputime.cores()
    names = ("WORKERS", "THREADS", "WORKER_CONNECTIONS", "KEEPALIVE", "LOG_LEVEL")
    values = ", ".join(f"{name}={both[name]}" for name in names)
    database = ", ".join(f"{name}={db[name]}" for name in DB_SETTINGS)
    return (
        f"Generated launchers as shipped (the defaults in service/settings.py): {values}; "
        f"WORKERS=auto is 2 x {cores} cores + 1 = {2 * cores + 1} Gunicorn workers. Waitress "
        "entry: wsgi.py's constants and THREADS. Granian launcher (a server=granian bake): "
        f"WORKERS={granian['WORKERS']}, THREADS={granian['THREADS']}, wsgi.py's backlog and "
        "backpressure (2,048 each); granian's defaults and the hand-tuned row run its command "
        "line on the same app. Reference: cookiecutter-flask's production "
        "command (`gunicorn -k gevent -w 4 --max-requests 5000 --max-requests-jitter 500`, no "
        "config file) serving plain Flask with flask-cors. Common advice: `gunicorn -w 4` (no "
        "config file) and `waitress.serve(app, threads=4)`. Dev server: werkzeug "
        "`run_simple(threaded=True)`. DB-backed rows: the same launchers in database=postgresql "
        f"bakes, as shipped ({database}) plus DATABASE_URL."
    )


DB_SETTINGS = ("DB_MAX_CONNECTIONS", "DB_POOL_SIZE", "DB_POOL_TIMEOUT")


def document(
    results: Results, targets: list[Target], options: Options, context: dict, db_budget: int
) -> str:
    burst = options.burst
    versions = ", ".join(f"{name} {metadata.version(name)}" for name in PACKAGES)
    side_by_side_labels = " and ".join(setup.label for setup in SIDE_BY_SIDE)
    side_by_side_rates = ", ".join(
        f"{setup.label} {reporting.fmt(rate(results.side_by_side.get(setup.key)))} req/s"
        for setup in SIDE_BY_SIDE
    )
    return f"""# Serving capacity: benchmark results

Produced by `.venv/bin/python benchmarks/run.py` on {context["date"]}, in {context["runtime"]},
from the template's {context["template"]}.
Machine: {context["cores"]} cores ({platform.processor() or platform.machine()}), \
{platform.system()} {platform.release()}, Python {platform.python_version()}; load average
(1 min) {context["load"]} at start / end (other work on the machine skews the numbers).
Versions: {versions}.

{context["settings"]}

## I/O-bound burst

`tools/loadcheck.py` (the project's own): {burst.pages} pages x {burst.parallel} parallel
preflight+GET pairs = {burst.pages * burst.parallel} pairs in flight, against `{IO_PATH}`
(a view that waits 50 ms), {burst.timeout:g} s client timeout. Requests/s counts answered
requests; p50 and p99 are per request. "vs reference" is requests/s as a multiple of the
reference row's in the same run: cookiecutter-flask's production command on plain Flask
with flask-cors. "vs bare WSGI" is requests/s as a share of a bare WSGI app that also waits
50 ms, on the same server and settings: what our stack (Flask, CORS, headers, logging)
costs. Each row is one burst, minutes from the others, so other work on the machine moves
these ratios; the targets come from the rounds side by side below.
"Cores busy" is the CPU time the server (all its processes), the load check and the whole
machine used over the load check's run, in cores: the whole machine near 2 means the 2
cores were the limit; more than server + load check means other work took its share.

{reporting.io_table(results, IO_SETUPS, CEILING, REFERENCE)}

![failed pairs and p99 per server](results.png)

### The burst side by side

The burst targets compare servers that ran together: the servers below start at once and
take the same burst in turn, {options.rounds} rounds, so a busy moment of the machine falls
on neighbouring bursts alike. Each ratio is the median over rounds of the two servers'
requests/s in the same round. Next to the generated app, each Gunicorn launcher also
serves the reference's app (plain Flask + flask-cors) and the gthread launcher a bare WSGI
app: what its worker model allows any app. The reference runs gevent, so the gevent
launcher is set against it, and the gthread launcher against the same app on itself;
Granian's launcher against the gthread launcher and the hand-tuned Granian row.

{reporting.side_by_side_table(results, BURST_SIDE_BY_SIDE, REFERENCE)}

## DB-backed burst

The same burst against `{QUERY_PATH}`, a route of the generated app that runs
`SELECT pg_sleep(0.05)` through `db.session`: the 50 ms wait, on the database, through
the generated pool. Each generated launcher runs in a `database=postgresql` bake of its
server with the shipped DB settings and `DATABASE_URL` naming a fresh database of one
throwaway PostgreSQL {results.postgres or "n/a"} server on the same machine (max_connections
{SERVER_MAX_CONNECTIONS}). "Pool at start" is the database part of the capacity line the
launcher logs; "peak connections" the most connections to that database open at once
during the burst, from `pg_stat_activity` every 10 ms; the budget is DB_MAX_CONNECTIONS.
"Slowest in the server" is the longest a request to the route took in the server, from its
access log: the wait for a pooled connection plus the query, to set against DB_POOL_TIMEOUT.
A failed pair names what failed: a 503 comes from the pool (no connection within
DB_POOL_TIMEOUT) or the database, a timeout or a refusal from the server.

{reporting.db_table(results, DB_SETUPS, db_budget)}

## CPU-light steady load

{options.clients} closed-loop keep-alive clients (aiohttp, in the benchmark process, so
sharing the same cores) send cross-origin GETs (with `Origin`) to `{HELLO_PATH}`. The apps
of a row run side by side and take turns in 5 slices, {options.seconds:g} s per app in all,
after a 1 s warm-up each, so a busy moment on the machine hits them alike; requests/s is
the median slice. Server CPU per request is the CPU time of the server's processes (from
/proc) over the requests answered: it barely moves with other work on the machine, so
the share "by CPU" is the steadier one. The apps: the generated app; the same with
`LOG_LEVEL=WARNING`, which drops its access-log line; plain Flask, a bare `Flask()` app
with the same route; the same writing the generated app's access-log line, and nothing
else of our stack; bare WSGI, no framework at all (what server and client alone can do).
The target compares the generated app's server CPU per request with plain Flask's, on
the same server settings; the column "/ plain + access line" shows what the rest of our
stack (CORS, request IDs, headers, sessions, trusted proxies) costs on its own.

{reporting.cpu_table(results, CPU_SETUPS)}

Side by side, for the Granian target: the generated app under {side_by_side_labels},
started together and loaded in the same interleaved slices, so both see the same moments of
the machine: {side_by_side_rates}.

## Targets

The start-up targets time `./start.sh` as shipped, in the bake's own virtualenv (`uv sync
--no-dev`, bytecode compiled, as the image is built), from the start to the first 200 on
`/healthz`: start-up imports what a user's install holds. Every other row runs the bakes
in the template's environment, which holds every package any bake may need.

{reporting.targets_table(targets)}
"""  # noqa: S608 (prose that names a query, not SQL)
