"""Serving capacity of the generated project, next to the common advice, in one run.

    .venv/bin/python benchmarks/run.py           # the full run, about 11 minutes
    .venv/bin/python benchmarks/run.py --quick   # smaller and shorter, while developing

The runner: it bakes the template as plan.py says, starts each server setting in turn (its
own process group, always stopped), runs its workloads (workloads.py), holds the results
to plan.py's targets and writes RESULTS.md (document.py, where each workload's method is
written) and results.png; --quick writes to benchmarks/output/ instead.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import cputime
import psycopg
import reporting
import servers
from cookiecutter.exceptions import CookiecutterException
from cookiecutter.main import cookiecutter
from document import document, settings_used
from plan import (
    BAKES,
    BURST_SIDE_BY_SIDE,
    CPU_SETUPS,
    DB_BAKE,
    DB_SETUPS,
    HELLO_PATH,
    IO_PATH,
    IO_SETUPS,
    ORIGIN,
    QUERY_PATH,
    SERVER_MAX_CONNECTIONS,
    SIDE_BY_SIDE,
    START_SH_BAKES,
    Options,
    db_budget,
    evaluate,
)
from reporting import Measurement, Results
from servers import Setup
from workloads import Burst, ConnectionPeak, io_burst, steady_load

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE.parent
OUTPUT = HERE / "output"


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


def own_environment(project: Path) -> str:
    """The interpreter of the bake's own virtualenv, made as its README makes it (`uv sync`,
    without the dev tools, bytecode compiled as the image does): start-up then imports
    what a user's install holds, not the extra packages of the template's environment."""
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is None:
        raise RuntimeError("uv is not installed: uv sync --group bench")
    done = subprocess.run(  # noqa: S603 (our own tool and arguments)
        [uv, "sync", "--quiet", "--no-dev"],
        cwd=project,
        env={**os.environ, "UV_COMPILE_BYTECODE": "1", "VIRTUAL_ENV": ""},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"uv sync failed in {project}: {done.stderr.strip()[-500:]}")
    return str(project / ".venv" / "bin" / "python")


def start_sh_ready_seconds(project: Path) -> float:
    """Seconds from `./start.sh` (as shipped, in the bake's own virtualenv) to the first
    200 on /healthz."""
    env = {
        **servers.shipped_environment(project),
        "HOST": "127.0.0.1",
        "PORT": str(servers.free_port()),
        "PYTHON": own_environment(project),
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
            burst = burst_on(setup, server, IO_PATH, projects, options)
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


def burst_on(
    setup: Setup, server: servers.Server, path: str, projects: dict[str, Path], options: Options
) -> reporting.Summary:
    """The I/O burst on `path` of a started server, fired by the load check shipped in
    the bake it runs in; a server that died meanwhile fails the step."""
    loadcheck = projects[setup.project] / "tools" / "loadcheck.py"
    burst = io_burst(loadcheck, server.url + path, ORIGIN, options.burst, server.cpu_seconds)
    servers.check_alive(server)
    return burst


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
                burst = burst_on(setup, server, IO_PATH, projects, options)
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
            burst = burst_on(setup, server, QUERY_PATH, projects, options)
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
    except (
        servers.ServerFailed,
        RuntimeError,
        OSError,
        ValueError,
        subprocess.SubprocessError,
        psycopg.Error,
    ) as error:
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
