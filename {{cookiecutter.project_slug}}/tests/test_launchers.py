{%- set gunicorn = cookiecutter.server in ("gunicorn", "both") -%}
{%- set waitress = cookiecutter.server in ("waitress", "both") -%}
{%- set granian = cookiecutter.server == "granian" -%}
{%- set windows = cookiecutter.server != "gunicorn" -%}
"""The real launchers, started as users start them, on a free port of 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import pytest

from service.settings import DEFAULTS
from tests.conftest import ALLOWED_ORIGIN, TEST_ENVIRON
from tests.ports import free_port

PROJECT_DIR = Path(__file__).resolve().parent.parent
# The launchers this project was generated with, each as its users start it.
LAUNCHERS = {
{%- if gunicorn %}
    "gunicorn": ["bash", "start.sh"],
{%- endif %}
{%- if waitress %}
    "waitress": [sys.executable, "wsgi.py"],
{%- endif %}
{%- if granian %}
    # start.sh, and on Windows what start.ps1 and start.bat run.
    "granian": [sys.executable, "wsgi.py"] if sys.platform == "win32" else ["bash", "start.sh"],
{%- endif %}
}
STARTUP_SECONDS = 15
WORKERS = 2
# Whether the launcher runs worker processes{% if waitress %} (Waitress serves from one){% endif %}.
FORKS_WORKERS = {
{%- if gunicorn %}
    "gunicorn": True,
{%- endif %}
{%- if waitress %}
    "waitress": False,
{%- endif %}
{%- if granian %}
    "granian": True,
{%- endif %}
}
{%- if windows %}
on_posix = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and process groups")
{%- endif %}


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def launch(
    name: str, log: Path, *, wrapper: tuple[str, ...] = (), **environ: str
) -> tuple[subprocess.Popen[bytes], int]:
    """Start launcher `name` (through `wrapper`, a command that execs it) on a free port."""
    port = free_port()
    env = {
        **os.environ,
        **TEST_ENVIRON,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WORKERS": str(WORKERS),
        "PYTHON": sys.executable,
        **environ,
    }
    # Its own process group, so stop() reaches the server and every worker it forked.
{%- if windows %}
    group = (
        {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
        if sys.platform == "win32"
        else {"start_new_session": True}
    )
{%- else %}
    group = {"start_new_session": True}
{%- endif %}
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*wrapper, *LAUNCHERS[name]],
            cwd=PROJECT_DIR,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            **group,
        )
    return process, port


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
{%- if windows %}
    if sys.platform == "win32":
        process.terminate()
    else:
        os.killpg(process.pid, signal.SIGTERM)
{%- else %}
    os.killpg(process.pid, signal.SIGTERM)
{%- endif %}
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
{%- if windows %}
        if sys.platform != "win32":
            os.killpg(process.pid, signal.SIGKILL)
{%- else %}
        os.killpg(process.pid, signal.SIGKILL)
{%- endif %}
        process.kill()
        process.wait()


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Message, bytes]:
    """Status, headers (names match in any case{% if granian %}: Granian sends them lower-case{% endif %}) and body."""
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 (http on loopback)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def wait_until_healthy(server: Server) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"launcher exited with {server.process.returncode}:\n{server.output()}")
        try:
            if get(server.url + "/healthz")[0] == 200:
                return
        except OSError:
            pass  # not listening yet
        time.sleep(0.1)
    pytest.fail(f"no answer on /healthz within {STARTUP_SECONDS} s:\n{server.output()}")


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start a launcher and wait for /healthz; every launcher is stopped at teardown."""
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str, *, wrapper: tuple[str, ...] = (), **environ: str) -> Server:
        log = tmp_path / f"{name}.log"
        process, port = launch(name, log, wrapper=wrapper, **environ)
        started.append(process)
        server = Server(f"http://127.0.0.1:{port}", process, log)
        wait_until_healthy(server)
        return server

    yield start
    for process in started:
        stop(process)


def launcher_params() -> list[object]:
{%- if cookiecutter.server == "both" %}
    return [pytest.param(name, marks=on_posix if name == "gunicorn" else ()) for name in LAUNCHERS]
{%- else %}
    return list(LAUNCHERS)
{%- endif %}


@pytest.mark.parametrize("name", launcher_params())
def test_launcher_holds_a_promise_all_burst(serve: Callable[..., Server], name: str) -> None:
    server = serve(name)
    pages, parallel = 20, 8
    check = subprocess.run(
        [
            sys.executable,
            str(PROJECT_DIR / "tools" / "loadcheck.py"),
            server.url + "/api/hello",
            "--origin",
            ALLOWED_ORIGIN,
            "--pages",
            str(pages),
            "--parallel",
            str(parallel),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    summary = json.loads(check.stdout)
    assert summary["failed_pairs"] == 0
    assert summary["requests"] == 2 * pages * parallel
    assert "capacity:" in server.output()


def seconds_behind_silent_connections(server: Server, count: int, settle: float) -> float:
    """Seconds /healthz takes while `count` connections that send nothing are open, the
    request sent `settle` seconds after they connected."""
    port = int(server.url.rsplit(":", 1)[1])
    silent = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
    try:
        time.sleep(settle)
        started = time.monotonic()
        status, _, _ = get(server.url + "/healthz")
        assert status == 200
        return time.monotonic() - started
    finally:
        for connection in silent:
            connection.close()


# A thread that a silent connection holds is held for seconds{% if gunicorn %} (5 s in a gthread worker){% endif %}.
# A request answered within this was not stuck behind one, however busy the machine.
STALL_SECONDS = 3.0


@pytest.mark.parametrize("name", launcher_params())
def test_idle_connections_do_not_delay_a_request(serve: Callable[..., Server], name: str) -> None:
    """Browsers preconnect sockets that send nothing. As many of them as the server has
    threads must not stall it: a normal request still answers at once."""
    server = serve(name)
{%- if cookiecutter.server == "both" %}
    processes = 1 if name == "waitress" else WORKERS
{%- elif waitress %}
    processes = 1
{%- elif granian %}
    processes = 1 if sys.platform == "win32" else WORKERS  # one on Windows
{%- else %}
    processes = WORKERS
{%- endif %}
    idle = processes * int(DEFAULTS["THREADS"])
    # Half a second: the server has accepted them all before the real request.
    elapsed = seconds_behind_silent_connections(server, idle, settle=0.5)
    assert elapsed < STALL_SECONDS, f"{idle} idle connections delayed a request {elapsed:.2f} s"
{%- if gunicorn %}


@pytest.mark.skipif(sys.platform != "linux", reason="TCP_DEFER_ACCEPT is Linux's")
def test_gthread_threads_never_wait_on_a_connection_that_sent_nothing(
    serve: Callable[..., Server],
) -> None:
    """Gunicorn's gthread worker gives each connection it accepts a thread that waits up
    to 5 s for the request's bytes. Linux accepts a connection only once they have
    arrived, and keeps a silent one waiting for longer than a browser keeps a preconnect:
    one thread answers a request at once behind twenty connections silent for 2 s."""
    server = serve("gunicorn", WORKER_CLASS="gthread", WORKERS="1", THREADS="1")
    elapsed = seconds_behind_silent_connections(server, 20, settle=2)
    assert elapsed < STALL_SECONDS, f"20 silent connections delayed a request {elapsed:.2f} s"
{%- endif %}


@pytest.mark.parametrize("name", launcher_params())
def test_launcher_never_runs_the_debugger(serve: Callable[..., Server], name: str) -> None:
    server = serve(name, FLASK_DEBUG="1")
    status, headers, body = get(server.url + "/?__debugger__=yes&cmd=resource&f=debugger.js")
    assert status == 404
    assert headers["Content-Type"] == "application/json"
    assert b"Traceback" not in body
    assert "FLASK_DEBUG is ignored" in server.output()
    assert "development server" not in server.output()


# Starts the launcher with INT ignored, as a shell script's `command &` does; ignored
# signals stay ignored across exec.
WITH_INT_IGNORED = ("sh", "-c", 'trap "" INT; exec "$0" "$@"')
# A stop takes about a second, plus a held worker's boot; waiting out GRACEFUL_TIMEOUT
# (30 s) for a worker means that worker missed the signal or hung.
STOP_SECONDS = 20


def stacks_of_workers(server: Server) -> str:
    """The output after each worker still running dumps its threads' stacks: Python's
    fault handler (PYTHONFAULTHANDLER) writes them when the process gets SIGSEGV."""
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
    for pid in children.read_text().split() if children.exists() else []:
        os.kill(int(pid), signal.SIGSEGV)
    time.sleep(1)
    return server.output()


{% if windows -%}
@on_posix
{% endif -%}
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
@pytest.mark.parametrize("name", launcher_params())
def test_launcher_stops_cleanly_on_int_and_term(
    serve: Callable[..., Server], name: str, stop_signal: signal.Signals, tmp_path: Path
) -> None:
    """Ctrl+C and a process manager's stop both end the service promptly, even when it
    was started with INT ignored, and while a worker is still booting: the first worker
    has just answered its first request and the second is held as it starts until the
    signal has been sent. The signal goes to the main process only, as Docker sends it."""
    release = tmp_path / "release-held-workers"
    server = serve(
        name,
        wrapper=WITH_INT_IGNORED,
        PYTHONPATH=str(PROJECT_DIR / "tests" / "slow_boot"),
        BOOT_HOLD_MARKER=str(tmp_path / "first-worker-booted"),
        BOOT_HOLD_RELEASE=str(release),
        PYTHONFAULTHANDLER="1",
    )
    deadline = time.monotonic() + STARTUP_SECONDS
    while FORKS_WORKERS[name] and "held" not in (output := server.output()):
        assert time.monotonic() < deadline, f"no worker's boot was held:\n{output}"
        time.sleep(0.02)
    os.kill(server.process.pid, stop_signal)
    release.touch()  # the held worker boots on, after the signal
    try:
        exit_code = server.process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{stop_signal.name} did not stop {name}:\n{stacks_of_workers(server)}")
    assert exit_code == 0, server.output()
    assert "Traceback" not in server.output()


@pytest.mark.parametrize("name", launcher_params())
def test_a_stopped_launcher_leaves_no_temporary_folder(
    serve: Callable[..., Server], name: str, tmp_path: Path
) -> None:
    """Whatever a start makes in the temporary folder goes when the service stops."""
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    server = serve(name, TMPDIR=str(temporary), TEMP=str(temporary), TMP=str(temporary))
    assert get(server.url + "/api/hello")[0] == 200
    stop(server.process)
    assert server.process.returncode == 0, server.output()
    assert list(temporary.iterdir()) == []


@pytest.mark.parametrize("name", launcher_params())
def test_launcher_refuses_to_start_without_secret_key(tmp_path: Path, name: str) -> None:
    process, _ = launch(name, tmp_path / "refused.log", SECRET_KEY="")
    try:
        assert process.wait(timeout=STARTUP_SECONDS) != 0
    finally:
        stop(process)
    output = (tmp_path / "refused.log").read_text().strip()
    assert output.splitlines()[-1].startswith("error: SECRET_KEY is not set")
    assert "Traceback" not in output
{%- if not waitress and not granian %}


def test_wsgi_script_points_to_start_sh_instead_of_a_dev_server() -> None:
    result = subprocess.run(
        [sys.executable, "wsgi.py"],
        cwd=PROJECT_DIR,
        env={**os.environ, **TEST_ENVIRON},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    assert "./start.sh" in result.stderr
    assert result.stderr.count("\n") == 1
{%- endif %}
