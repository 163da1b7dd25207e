"""The server settings under benchmark, and starting and stopping them safely.

Every server runs in its own process group (its own session), so stopping it reaches
the workers it forked, and a Ctrl-C in the terminal reaches only the benchmark, whose
`finally` blocks then stop the servers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cputime
from dotenv import dotenv_values

# The template's tests share these with the benchmark: a free port as the generated suite
# finds one, and loading a baked project's own test helpers.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support import free_port, load_module, start_in_own_group, stop_group

PYTHON = sys.executable
STARTUP_SECONDS = 30
# Seconds from TERM to KILL: a server stops in about 1 s after a step, but Gunicorn
# waits for requests still in flight when a step is interrupted.
STOP_SECONDS = 5

Argv = Callable[[str, Path], list[str]]


@dataclass(frozen=True)
class Setup:
    """One way of serving a WSGI app: a command line plus environment overrides."""

    key: str
    label: str
    argv: Argv
    env: dict[str, str] = field(default_factory=dict)
    # Gunicorn reads ./gunicorn.conf.py whenever it exists, so settings that must run
    # without it start from the project's parent folder instead.
    outside_project: bool = False
    # The apps (see APPS) the I/O burst is fired at on this setting.
    burst_apps: tuple[str, ...] = ("app", "bare")
    # The bake it runs in, by its name in run.py's BAKES.
    project: str = "both"


def gunicorn_launcher(worker_class: str) -> Setup:
    """The generated launcher: start.sh's command line with a bench target."""
    return Setup(
        key=f"launcher-{worker_class}",
        label=f"generated gunicorn launcher, {worker_class}",
        argv=lambda target, _: [
            PYTHON,
            "-m",
            "gunicorn",
            "--config",
            "gunicorn.conf.py",
            f"bench_app:{target}",
        ],
        env={"WORKER_CLASS": worker_class},
    )


def script(mode: str) -> Argv:
    return lambda target, _: [PYTHON, "bench_app.py", mode, target]


LAUNCHER_GTHREAD = gunicorn_launcher("gthread")
LAUNCHER_GEVENT = gunicorn_launcher("gevent")
WAITRESS_ENTRY = Setup(
    "waitress-entry", "generated waitress entry (wsgi.serve)", script("waitress-entry")
)
GUNICORN_W4 = Setup(
    "gunicorn-w4",
    "common advice: gunicorn -w 4 (sync)",
    # `$PORT` is replaced by the free port picked at start.
    lambda target, project: [
        PYTHON,
        "-m",
        "gunicorn",
        "-w",
        "4",
        "--bind",
        "127.0.0.1:$PORT",
        "--pythonpath",
        str(project),
        f"bench_app:{target}",
    ],
    outside_project=True,
)
WAITRESS_T4 = Setup(
    "waitress-t4", "common advice: waitress serve(app, threads=4)", script("waitress-threads-4")
)
# cookiecutter-flask's production command, serving plain Flask with flask-cors added: the
# reference the generated launchers must match on the burst.
COOKIECUTTER_FLASK = Setup(
    "cookiecutter-flask",
    "reference: cookiecutter-flask's gunicorn -k gevent -w 4, plain Flask + flask-cors",
    lambda target, project: [
        *(PYTHON, "-m", "gunicorn", "-k", "gevent", "-w", "4"),
        *("--max-requests", "5000", "--max-requests-jitter", "500"),
        *("--bind", "127.0.0.1:$PORT", "--pythonpath", str(project), f"bench_app:{target}"),
    ],
    outside_project=True,
    burst_apps=("cors",),
)
DEV_SERVER = Setup("dev-server", "Flask dev server (threaded)", script("dev-server"))
# The generated `python wsgi.py` of a server=granian bake (start.sh runs it), as shipped.
GRANIAN_LAUNCHER = Setup(
    "granian-launcher",
    "generated granian launcher (wsgi.serve)",
    script("granian-entry"),
    project="granian",
)


def granian_cli(key: str, label: str, *options: str) -> Setup:
    """Granian's own command line instead of the generated wsgi.py, serving the same app
    with the same per-worker set-up (bench_app.granian_worker)."""
    return Setup(
        key,
        label,
        lambda target, _: [
            *("env", f"BENCH_TARGET={target}", PYTHON, "-m", "granian", "--interface", "wsgi"),
            *(*options, "--host", "127.0.0.1", "--port", "$PORT"),
            *("--factory", "bench_app:granian_worker"),
        ],
        burst_apps=("app",),
        project="granian",
    )


GRANIAN_DEFAULTS = granian_cli("granian-defaults", "granian, its defaults")
# The best hand-tuned setting measured when Granian was proposed (issue #14).
GRANIAN_TUNED = granian_cli(
    "granian-tuned",
    "granian hand-tuned: 5 workers x 32 threads, backlog and backpressure 2048",
    *("--workers", "5", "--blocking-threads", "32"),
    *("--backlog", "2048", "--backpressure", "2048"),
)


def on_database(setup: Setup) -> Setup:
    """`setup` in the database=postgresql bake of its server (run.py names it
    "<bake>-postgresql"), serving the generated app only: the others have no database."""
    return dataclasses.replace(
        setup,
        key=f"{setup.key}-postgresql",
        label=f"{setup.label}, on PostgreSQL",
        burst_apps=("app",),
        project=f"{setup.project}-postgresql",
    )


def shipped_environment(project: Path) -> dict[str, str]:
    """This environment without the variables the baked .env sets: the shipped values
    apply unless the benchmark overrides them on purpose."""
    shipped = dotenv_values(project / ".env")
    return {name: value for name, value in os.environ.items() if name not in shipped}


@dataclass
class Server:
    label: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    ready_seconds: float = 0.0

    def cpu_seconds(self) -> float | None:
        # Its own session (start_new_session): the server and every worker it forked.
        return cputime.session_seconds(self.process.pid)

    def log_tail(self, lines: int = 15) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


class ServerFailed(RuntimeError):
    """A server exited or never answered; the message carries its log's last lines."""


def get_status(url: str, timeout: float) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (loopback)
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def wait_until_ready(server: Server, path: str, started: float) -> None:
    """Poll `path` until it answers 200; record the seconds since the process started."""
    deadline = started + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ServerFailed(f"{server.label} exited:\n{server.log_tail()}")
        # Gunicorn accepts connections before its workers boot, so one attempt may
        # wait in the backlog: the timeout covers that wait.
        with contextlib.suppress(OSError):
            if get_status(server.url + path, timeout=5) == 200:
                server.ready_seconds = time.monotonic() - started
                return
        time.sleep(0.02)
    raise ServerFailed(f"{server.label}: no 200 on {path} in {STARTUP_SECONDS} s")


def check_alive(server: Server) -> None:
    """A server that died during a step makes the step's numbers meaningless."""
    if server.process.poll() is not None:
        raise ServerFailed(
            f"{server.label} exited during the step (status {server.process.returncode}):\n"
            f"{server.log_tail()}"
        )


@contextlib.contextmanager
def running(
    argv: list[str],
    *,
    label: str,
    cwd: Path,
    env: dict[str, str],
    log: Path,
    ready_path: str,
) -> Iterator[Server]:
    """Start a server on env's HOST:PORT, wait until `ready_path` answers, always stop it."""
    started = time.monotonic()
    process = start_in_own_group(argv, cwd, env, log)
    server = Server(label, f"http://{env['HOST']}:{env['PORT']}", process, log)
    try:
        wait_until_ready(server, ready_path, started)
        yield server
    finally:
        stop_group(process, STOP_SECONDS)


@contextlib.contextmanager
def postgres(project: Path, max_connections: int) -> Iterator[Any]:
    """A throwaway PostgreSQL server on a free port, started as a database bake's own tests
    start theirs (its tests/postgres.py: a Cluster with .url() and .create_database());
    always stopped and deleted. Needs the server binaries (Debian: apt-get install postgresql).
    """
    module = load_module(project / "tests" / "postgres.py", "baked_postgres")
    with module.throwaway_cluster(free_port(), max_connections) as cluster:
        yield cluster


# What a server serves: bench_app's attribute, and environment for that app only.
APPS: dict[str, tuple[str, dict[str, str]]] = {
    "app": ("app", {}),
    # The generated app without its per-request access-log line (logged at INFO).
    "quiet": ("app", {"LOG_LEVEL": "WARNING"}),
    "plain": ("plain", {}),
    # Plain Flask plus the generated app's access-log line: the cost of the rest of it.
    "logged": ("logged", {}),
    "bare": ("bare", {}),
    # Plain Flask with flask-cors, for the reference row.
    "cors": ("cors", {}),
}


def start(
    setup: Setup, target: str, projects: dict[str, Path], logs: Path, overrides: dict[str, str]
) -> contextlib.AbstractContextManager[Server]:
    """`setup` serving the app `target` names (see APPS) on a free 127.0.0.1 port, in the
    bake `projects[setup.project]`."""
    project = projects[setup.project]
    attribute, app_env = APPS[target]
    port = str(free_port())
    env = {
        **shipped_environment(project),
        **overrides,
        **setup.env,
        **app_env,
        "HOST": "127.0.0.1",
        "PORT": port,
    }
    argv = [arg.replace("$PORT", port) for arg in setup.argv(attribute, project)]
    return running(
        argv,
        label=f"{setup.label} / {target}",
        cwd=project.parent if setup.outside_project else project,
        env=env,
        log=logs / f"{setup.key}-{target}.log",
        # The generated app's health check; the other apps answer /api/hello.
        ready_path="/healthz" if attribute == "app" else "/api/hello",
    )
