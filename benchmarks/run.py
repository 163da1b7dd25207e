"""Serving capacity of the generated project, next to the common advice, in one run.

    .venv/bin/python benchmarks/run.py           # the full run, about 7 minutes
    .venv/bin/python benchmarks/run.py --quick   # smaller and shorter, while developing

Bakes the template into benchmarks/output/ four times (server=both and server=granian,
each also with database=postgresql), adds bench_app.py to each baked project, then
starts each server setting in turn (its own process group, always stopped) and measures:
1. an I/O-bound burst: the project's tools/loadcheck.py, 200 pages x 8 parallel
   preflight+GET pairs against a 50 ms route, on the generated app and a bare WSGI app;
2. a CPU-light steady load: 32 closed-loop clients on /api/hello, on the generated app
   (with and without its access log), a plain Flask app (with and without the same
   access-log line) and a bare WSGI app;
3. the burst side by side: the launchers and the reference started together and burst in
   turn, several rounds, for the burst targets (each the median of the rounds' ratios);
4. a DB-backed burst: the same burst against a route that runs a 50 ms query, on each
   generated launcher of the database bakes with its shipped DB_* settings, on a fresh
   database of one throwaway PostgreSQL server, counting the connections it opens.
Prints a table and PASS/FAIL per target; writes RESULTS.md and results.png (full runs)
or benchmarks/output/ (--quick).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import os
import platform
import re
import resource
import runpy
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Any

import cputime
import psycopg
import reporting
import servers
from cookiecutter.exceptions import CookiecutterException
from cookiecutter.main import cookiecutter
from reporting import Measurement, Results, Target
from servers import Setup
from workloads import Burst, ConnectionPeak, io_burst, steady_load

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE.parent
OUTPUT = HERE / "output"
# The origin tools/loadcheck.py sends by default, and the template's default CORS_ORIGINS.
ORIGIN = "http://localhost:5173"
IO_PATH = "/bench/io"
QUERY_PATH = "/bench/query"
# A validated query parameter: the generated app checks it against its Pydantic model.
HELLO_PATH = "/api/hello?name=bench"
PACKAGES = (
    *("flask", "flask-cors", "werkzeug", "gunicorn", "gevent", "waitress", "granian"),
    "aiohttp",
)
# The bakes, each baked into OUTPUT/<name> with these answers: Gunicorn and Waitress in
# one, Granian in another, and each again with a database for the DB-backed burst.
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


def targets_of(setup: Setup) -> list[str]:
    """The apps one setting serves (servers.APPS): its burst apps, and for the steady load
    plain Flask (with and without the access-log line) and the generated app without it."""
    steady = ["plain", "logged", "quiet"] if setup in CPU_SETUPS else []
    return [*setup.burst_apps, *steady]


def step_count(rounds: int) -> int:
    # The bakes and their start.sh, then per setting: its start, bursts, maybe a steady load;
    # the side-by-side load; then PostgreSQL's start and per database setting: its start
    # and burst.
    steps = sum(1 + len(setup.burst_apps) + (setup in CPU_SETUPS) for setup in IO_SETUPS)
    # The side-by-side burst: its start, then one line per round.
    side_by_side = 1 + 1 + rounds
    return len(BAKES) + len(START_SH_BAKES) + steps + side_by_side + 1 + 2 * len(DB_SETUPS)


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="40 pages, 2 s loads, to output/")
    parser.add_argument("--pages", type=int, help="pages in the burst (default 200)")
    parser.add_argument("--parallel", type=int, default=8, help="pairs per page")
    parser.add_argument("--timeout", type=float, default=10.0, help="client timeout, seconds")
    parser.add_argument("--clients", type=int, default=32, help="steady-load clients")
    parser.add_argument("--seconds", type=float, help="steady-load seconds (default 5)")
    parser.add_argument("--rounds", type=int, help="rounds of the side-by-side burst (default 5)")
    parser.add_argument(
        "--ref", help="bake this git commit (e.g. HEAD) instead of the working tree as it is"
    )
    args = parser.parse_args(argv)
    return Options(
        burst=Burst(args.pages or (40 if args.quick else 200), args.parallel, args.timeout),
        clients=args.clients,
        seconds=args.seconds or (2.0 if args.quick else 5.0),
        rounds=args.rounds or (3 if args.quick else 5),
        results_dir=OUTPUT if args.quick else HERE,
        ref=args.ref,
    )


class Progress:
    """One line per step: its number, the time since the run began, and what it did."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.began = total, 0, time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.began

    def line(self, text: str) -> None:
        self.done += 1
        minutes, seconds = divmod(int(self.elapsed()), 60)
        print(f"[{self.done:>2}/{self.total}] {minutes}:{seconds:02d} {text}", flush=True)


def raise_open_file_limit() -> None:
    # The burst holds 1,600+ sockets in the client and in the server; servers that do
    # not raise their own limit inherit this one.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def stop_on_sigterm() -> None:
    """SIGTERM stops the run as Ctrl-C does, so every `finally` stops its server."""

    def on_sigterm(_signum: int, frame: FrameType | None) -> None:
        # Whatever handles Ctrl-C now (asyncio.run cancels its task cleanly) handles this.
        on_sigint = signal.getsignal(signal.SIGINT)
        if not callable(on_sigint):  # ignored, as in a background job
            raise KeyboardInterrupt
        on_sigint(signal.SIGINT, frame)

    signal.signal(signal.SIGTERM, on_sigterm)


def git(*args: str) -> bytes:
    command = ["git", "-C", str(TEMPLATE), *args]
    return subprocess.run(command, capture_output=True, check=True).stdout  # noqa: S603 (ours)


def short_commit(ref: str) -> str:
    return git("rev-parse", "--short", ref).decode().strip()


def template_source(ref: str | None) -> tuple[Path, str]:
    """The template folder to bake, and how to name it in the results."""
    if ref is None:
        dirty = " plus uncommitted changes" if git("status", "--porcelain") else ""
        return TEMPLATE, f"working tree at {short_commit('HEAD')}{dirty}"
    # A commit, exported as files: edits in progress in the working tree stay out.
    folder = OUTPUT / "template"
    with tarfile.open(fileobj=io.BytesIO(git("archive", "--format=tar", ref))) as tar:
        tar.extractall(folder, filter="data")
    return folder, f"commit {short_commit(ref)}"


def bake(ref: str | None) -> tuple[dict[str, Path], str]:
    """A fresh project per entry of BAKES, by its name, each with the bench module."""
    shutil.rmtree(OUTPUT, ignore_errors=True)
    (OUTPUT / "logs").mkdir(parents=True)
    template, described = template_source(ref)
    projects = {}
    for name, answers in BAKES.items():
        baked = cookiecutter(
            str(template), no_input=True, output_dir=str(OUTPUT / name), extra_context=answers
        )
        projects[name] = Path(baked)
        shutil.copy(HERE / "bench_app.py", projects[name] / "bench_app.py")
    return projects, described


def start_sh_ready_seconds(project: Path) -> float:
    """Seconds from `./start.sh` (as shipped) to the first 200 on /healthz."""
    env = {
        **servers.shipped_environment(project),
        "HOST": "127.0.0.1",
        "PORT": str(servers.free_port()),
        "PYTHON": sys.executable,
    }
    with servers.running(
        ["bash", "start.sh"],
        label="start.sh",
        cwd=project,
        env=env,
        log=OUTPUT / "logs" / f"start-sh-{project.parent.name}.log",
        ready_path="/healthz",
    ) as server:
        return server.ready_seconds


def measure(
    setup: Setup,
    projects: dict[str, Path],
    options: Options,
    progress: Progress,
    results: Results,
) -> None:
    """Start every app this setting serves, then burst and load them; always stop them."""
    with contextlib.ExitStack() as stack:
        targets = targets_of(setup)
        apps = start_together(stack, [(setup, target) for target in targets], projects)
        started = dict(zip(targets, apps, strict=True))
        ready = ", ".join(f"{t} {s.ready_seconds:.1f} s" for t, s in started.items())
        progress.line(f"{setup.label}: ready ({ready})")
        found = {t: Measurement(setup, t, s.ready_seconds) for t, s in started.items()}
        for measurement in found.values():
            results.add(measurement)  # filled in below; a failed step leaves n/a cells
        for target in setup.burst_apps:
            server = started[target]
            burst = io_burst(
                loadcheck(setup, projects),
                server.url + IO_PATH,
                ORIGIN,
                options.burst,
                server.cpu_seconds,
            )
            servers.check_alive(server)
            found[target].io = burst
            progress.line(f"{setup.label} / {target}: I/O burst {describe_io(burst)}")
        if setup in CPU_SETUPS:
            loads = load_steadily(started, options)
            for target, summary in loads.items():
                found[target].cpu = summary
            rates = ", ".join(f"{t} {c['requests_per_second']:,.0f}" for t, c in loads.items())
            progress.line(f"{setup.label}: CPU-light req/s {rates}")


def start_together(
    stack: contextlib.ExitStack,
    apps: Sequence[tuple[Setup, str]],
    projects: dict[str, Path],
    logs: Path = OUTPUT / "logs",
) -> list[servers.Server]:
    """Each (setting, app of servers.APPS) on a port of its own, in order; every one is
    stopped when `stack` closes."""
    overrides = {"CORS_ORIGINS": ORIGIN}
    return [
        stack.enter_context(servers.start(setup, target, projects, logs, overrides))
        for setup, target in apps
    ]


def loadcheck(setup: Setup, projects: dict[str, Path]) -> Path:
    """The load check shipped in the bake a setting runs in."""
    return projects[setup.project] / "tools" / "loadcheck.py"


def load_steadily(
    started: dict[str, servers.Server], options: Options
) -> dict[str, dict[str, object]]:
    """The CPU-light load on each started server's /api/hello, in interleaved slices, by
    the same keys; a server that died meanwhile fails the step."""
    loads = steady_load(
        {key: (server.url + HELLO_PATH, server.cpu_seconds) for key, server in started.items()},
        ORIGIN,
        options.clients,
        options.seconds,
    )
    for server in started.values():
        servers.check_alive(server)
    return loads


def measure_side_by_side(
    setups: Sequence[Setup],
    projects: dict[str, Path],
    options: Options,
    progress: Progress,
    results: Results,
) -> None:
    """The generated app under several launchers at once, loaded in interleaved slices: a
    ratio between launchers measured minutes apart moves with whatever else the machine
    did meanwhile."""
    with contextlib.ExitStack() as stack:
        apps = start_together(stack, [(setup, "app") for setup in setups], projects)
        started = dict(zip([setup.key for setup in setups], apps, strict=True))
        loads = load_steadily(started, options)
    results.side_by_side.update(loads)
    labels = {setup.key: setup.label for setup in setups}
    rates = ", ".join(f"{labels[k]} {c['requests_per_second']:,.0f}" for k, c in loads.items())
    progress.line(f"side by side: CPU-light req/s {rates}")


def measure_bursts_side_by_side(
    apps: Sequence[tuple[Setup, str]],
    projects: dict[str, Path],
    options: Options,
    progress: Progress,
    results: Results,
) -> None:
    """The I/O burst on several servers started together, each in turn, options.rounds
    times: a ratio of two bursts minutes apart moves with the machine's other work."""
    logs = OUTPUT / "logs" / "side-by-side"
    logs.mkdir(exist_ok=True)
    with contextlib.ExitStack() as stack:
        started = list(zip(apps, start_together(stack, apps, projects, logs), strict=True))
        progress.line(f"burst side by side: {len(started)} servers ready")
        for round_number in range(1, options.rounds + 1):
            rates = []
            for (setup, target), server in started:
                burst = io_burst(
                    loadcheck(setup, projects),
                    server.url + IO_PATH,
                    ORIGIN,
                    options.burst,
                    server.cpu_seconds,
                )
                servers.check_alive(server)
                results.burst_rounds.setdefault((setup.key, target), []).append(burst)
                rates.append(f"{burst['requests_per_second']:,.0f}")
            progress.line(f"burst side by side, round {round_number}: req/s {', '.join(rates)}")


def measure_database(
    setup: Setup,
    projects: dict[str, Path],
    cluster: Any,
    options: Options,
    progress: Progress,
    results: Results,
) -> None:
    """The DB-backed burst on one setting, on a database of its own, counting the
    connections to it meanwhile; always stop the server."""
    database = setup.key.replace("-", "_")
    overrides = {"CORS_ORIGINS": ORIGIN, "DATABASE_URL": cluster.create_database(database)}
    with servers.start(setup, "app", projects, OUTPUT / "logs", overrides) as server:
        progress.line(f"{setup.label}: ready ({server.ready_seconds:.1f} s)")
        found = Measurement(setup, "app", server.ready_seconds)
        results.add(found)  # filled in below; a failed step leaves n/a cells
        with ConnectionPeak(cluster.url("postgres"), database) as peak:
            burst = io_burst(
                loadcheck(setup, projects),
                server.url + QUERY_PATH,
                ORIGIN,
                options.burst,
                server.cpu_seconds,
            )
        servers.check_alive(server)
    # Read once the server has stopped: its log writer has flushed the last lines by then.
    log = server.log.read_text(errors="replace")
    burst["peak_connections"] = peak.most
    burst["pool"] = pool_at_start(log)
    burst["slowest_ms"] = slowest_query_ms(log)
    found.io = burst
    progress.line(
        f"{setup.label}: DB-backed burst {describe_io(burst)}, peak {peak.most} connections, "
        f"pool {burst['pool']}, slowest in the server {burst['slowest_ms']} ms"
    )


# The database part of the capacity line a launcher logs at start.
POOL_LINE = re.compile(r"database: (\d+) process\(es\) x \((\d+) pooled \+ 1 for /readyz\) = (\d+)")
# The generated app's access line for the query route, in its JSON log (no terminal).
QUERY_LINE = re.compile(rf'"path":"{QUERY_PATH}","status":\d+,"duration_ms":([\d.]+)')


def pool_at_start(log: str) -> str | None:
    """What the server says its pools may hold: "5 x (15 + 1) = 80"."""
    found = POOL_LINE.search(log)
    return f"{found[1]} x ({found[2]} + 1) = {found[3]}" if found else None


def slowest_query_ms(log: str) -> float | None:
    """The longest a request of the query route ran in the server, the wait for a pooled
    connection included: how close it came to DB_POOL_TIMEOUT."""
    return max((float(ms) for ms in QUERY_LINE.findall(log)), default=None)


def describe_io(io: reporting.Summary) -> str:
    return (
        f"{io['failed_pairs']}/{io['pairs']} pairs failed, "
        f"{io['requests_per_second']:,.0f} req/s, p99 {io['p99_ms']} ms, "
        f"cores busy: server {io.get('server_cores')}, load check {io['client_cores']}, "
        f"machine {io.get('machine_cores')}"
    )


@contextlib.contextmanager
def step_guard(progress: Progress, label: str) -> Iterator[None]:
    """A failed step is reported and the run goes on; its cells read n/a."""
    try:
        yield
    except (servers.ServerFailed, RuntimeError, OSError, ValueError, psycopg.Error) as error:
        progress.line(f"{label}: FAILED: {error}")


def run(options: Options, results: Results) -> tuple[Progress, dict[str, Path], str]:
    progress = Progress(step_count(options.rounds))
    projects, template = bake(options.ref)
    for name, project in projects.items():
        answers = " ".join(f"{key}={value}" for key, value in BAKES[name].items())
        progress.line(f"baked the {template} ({answers}), added bench_app.py")
        if name not in START_SH_BAKES:
            continue
        with step_guard(progress, f"start.sh ({name})"):
            results.start_sh_ready[name] = start_sh_ready_seconds(project)
            seconds = results.start_sh_ready[name]
            progress.line(f"start.sh ({answers}) answered /healthz in {seconds:.2f} s")
    for setup in IO_SETUPS:
        with step_guard(progress, setup.label):
            measure(setup, projects, options, progress, results)
    with step_guard(progress, "side by side"):
        measure_side_by_side(SIDE_BY_SIDE, projects, options, progress, results)
    with step_guard(progress, "burst side by side"):
        measure_bursts_side_by_side(BURST_SIDE_BY_SIDE, projects, options, progress, results)
    with (
        step_guard(progress, "PostgreSQL"),
        servers.postgres(projects[DB_BAKE], SERVER_MAX_CONNECTIONS) as cluster,
    ):
        with psycopg.connect(cluster.url("postgres")) as connection:
            version = connection.info.server_version  # 150018 for 15.18
        results.postgres = f"{version // 10000}.{version % 10000}"
        progress.line(
            f"PostgreSQL {results.postgres} started on port {cluster.port} "
            f"(max_connections {SERVER_MAX_CONNECTIONS})"
        )
        for setup in DB_SETUPS:
            with step_guard(progress, setup.label):
                measure_database(setup, projects, cluster, options, progress, results)
    return progress, projects, template


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


def shipped_defaults(project: Path) -> dict[str, str]:
    """A bake's DEFAULTS: every setting as shipped (service/settings.py)."""
    return runpy.run_path(str(project / "service" / "settings.py"))["DEFAULTS"]


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


def db_budget(projects: dict[str, Path]) -> int:
    """DB_MAX_CONNECTIONS as shipped: the connections a database bake may hold in all."""
    return int(shipped_defaults(projects[DB_BAKE])["DB_MAX_CONNECTIONS"])


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

{reporting.targets_table(targets)}
"""  # noqa: S608 (prose that names a query, not SQL)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    raise_open_file_limit()
    stop_on_sigterm()
    results = Results()
    load_at_start = os.getloadavg()[0]
    try:
        progress, projects, template = run(options, results)
    except KeyboardInterrupt:
        print("interrupted: every server started has been stopped", file=sys.stderr)
        return 130
    except (CookiecutterException, subprocess.CalledProcessError) as error:
        print(f"cannot bake the template: {error}", file=sys.stderr)
        return 2
    budget = db_budget(projects)
    targets = evaluate(results, budget)
    runtime = progress.elapsed()
    context = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "runtime": f"{int(runtime // 60)} min {int(runtime % 60)} s",
        "cores": cputime.cores(),
        "load": f"{load_at_start:.1f} / {os.getloadavg()[0]:.1f}",
        "settings": settings_used(projects),
        "template": template,
    }
    text = document(results, targets, options, context, budget)
    options.results_dir.mkdir(parents=True, exist_ok=True)
    (options.results_dir / "RESULTS.md").write_text(text, encoding="utf-8")
    title = (
        f"I/O-bound burst: {options.burst.pages} pages x {options.burst.parallel} pairs, "
        "50 ms view (a sleep, or on PostgreSQL a query)"
    )
    chart = options.results_dir / "results.png"
    reporting.save_chart(results, [*IO_SETUPS, *DB_SETUPS], chart, title)
    (OUTPUT / "results.json").write_text(json.dumps(raw(results), indent=2), encoding="utf-8")
    print(text)
    print(f"run time: {context['runtime']}; wrote {options.results_dir / 'RESULTS.md'}")
    return 0 if all(target.passed is not False for target in targets) else 1


def raw(results: Results) -> list[dict[str, object]]:
    """Every measurement as measured, for a closer look than the tables give."""
    return [
        {
            "setup": m.setup.key,
            "target": m.target,
            "ready_seconds": m.ready_seconds,
            "io": m.io,
            "cpu": m.cpu,
        }
        for m in results.measurements.values()
    ]


if __name__ == "__main__":
    sys.exit(main())
