"""The workarounds in service/gunicorn_hooks.py stay only while Gunicorn needs them.

Each behaviour is shown on plain Gunicorn, without the project's hooks: once a Gunicorn
release fixes it, the test fails, and the workaround goes. Each is also shown fixed with
the project's own workaround function.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import Launched, raw_request

HELLO_APP = """def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
"""
# Plain Gunicorn on the launcher's port; each test adds the lines it needs.
CONFIG = """import os
bind = "127.0.0.1:" + os.environ["PORT"]
workers = 1
control_socket_disable = True
"""
GTHREAD = 'worker_class = "gthread"\nthreads = 2\n'
# A stop signal that arrives between fork and the worker's own signal handlers; the worker
# says when its hooks have run, so an exit can be told from a boot failure.
SIGNAL_WHILE_BOOTING = """import signal
def post_fork(server, worker):
    os.kill(os.getpid(), signal.{signal})
"""
# The project's hooks that hold stop signals from fork to post_worker_init.
HOLD_AND_RELEASE = """from service import gunicorn_hooks
from service.gunicorn_hooks import on_starting, pre_fork  # noqa: F401
def post_worker_init(worker):
    print(f"worker {os.getpid()} ran post_worker_init", flush=True)
    gunicorn_hooks.post_worker_init(worker)
"""
STOP_SIGNALS = ["SIGTERM", "SIGQUIT", "SIGINT"]


@pytest.fixture(scope="module")
def baked_default(cookies_session) -> Path:
    """A default bake, for its service/gunicorn_hooks.py."""
    result = cookies_session.bake()
    assert result.exit_code == 0, result.exception
    return Path(result.project_path)


def gunicorn(
    launch: Callable[..., Launched], folder: Path, config: str, app: str = "hello:app"
) -> Launched:
    (folder / "hello.py").write_text(HELLO_APP)
    (folder / "test.conf.py").write_text(config)
    command = [sys.executable, "-m", "gunicorn", "--config", "test.conf.py", app]
    server = launch(folder, command)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
            return server
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"Gunicorn did not listen within 15 s:\n{server.output()}")


@pytest.mark.parametrize("stop_signal", STOP_SIGNALS)
def test_plain_gunicorn_still_loses_a_stop_signal_sent_while_a_worker_boots(
    launch: Callable[..., Launched], tmp_path: Path, stop_signal: str
) -> None:
    """benoitc/gunicorn#1910: while this passes, hold_stop_signals() stays."""
    config = CONFIG + GTHREAD + SIGNAL_WHILE_BOOTING.format(signal=stop_signal)
    server = gunicorn(launch, tmp_path, config)
    assert raw_request(server.port, "GET", "/")[0] == 200
    time.sleep(1)
    assert raw_request(server.port, "GET", "/")[0] == 200
    assert "Worker exiting" not in server.output(), (
        f"a booting worker now obeys {stop_signal}: drop hold_stop_signals()"
    )


@pytest.mark.parametrize("stop_signal", STOP_SIGNALS)
def test_stop_signals_held_from_fork_reach_the_worker_once_it_is_ready(
    launch: Callable[..., Launched], baked_default: Path, stop_signal: str
) -> None:
    """The signal comes before any code of the new worker runs a hook: pre_fork held it,
    and the worker obeys it once its hooks have run. The master did not ask the worker
    to stop, so it boots another: the exit was the signal's doing, not the master's."""
    config = CONFIG + GTHREAD + SIGNAL_WHILE_BOOTING.format(signal=stop_signal)
    server = gunicorn(launch, baked_default, config + HOLD_AND_RELEASE)
    output = server.wait_for_output("ran post_worker_init", seconds=15)
    worker = int(re.findall(r"worker (\d+) ran post_worker_init", output)[0])
    output = server.wait_for_output(f"Worker exiting (pid: {worker})", seconds=20)
    assert output.index(f"worker {worker} ran post_worker_init") < output.index(
        f"Worker exiting (pid: {worker})"
    )
    assert "Traceback" not in output
    deadline = time.monotonic() + 20
    while output.count("Booting worker") < 2:
        assert time.monotonic() < deadline, f"no worker booted after {worker}:\n{output}"
        time.sleep(0.05)
        output = server.output()


# The worker's QUIT arrives while its pool starts a thread for a request: the handler then
# runs inside ThreadPoolExecutor.submit(), as when Ctrl+C meets a worker's first requests.
# faulthandler shows where the worker's threads are when the test sends SIGUSR2.
QUIT_INSIDE_SUBMIT = """import faulthandler
import signal

def post_worker_init(worker):
    {chain}
    faulthandler.register(signal.SIGUSR2, all_threads=True)
    start_thread = worker.tpool._adjust_thread_count

    def start_thread_as_quit_arrives():
        if not worker.tpool._threads:
            print(f"QUIT inside submit() of worker {{os.getpid()}}", flush=True)
            os.kill(os.getpid(), signal.SIGQUIT)
        start_thread()

    worker.tpool._adjust_thread_count = start_thread_as_quit_arrives
"""
PLAIN_QUIT_INSIDE_SUBMIT = QUIT_INSIDE_SUBMIT.format(chain="pass")
PROJECT_QUIT_INSIDE_SUBMIT = "from service import gunicorn_hooks\n" + QUIT_INSIDE_SUBMIT.format(
    chain="gunicorn_hooks.post_worker_init(worker)"
)


def quit_victim(server: Launched) -> int:
    """Sends the first request, whose thread start meets QUIT; the worker's pid."""
    with contextlib.suppress(OSError):  # a deadlocked worker never answers
        raw_request(server.port, "GET", "/", timeout=2)
    output = server.wait_for_output("QUIT inside submit() of worker", seconds=15)
    return int(re.findall(r"QUIT inside submit\(\) of worker (\d+)", output)[0])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_plain_gthread_still_deadlocks_on_quit_inside_submit(
    launch: Callable[..., Launched], tmp_path: Path
) -> None:
    """cpython#121649 in Gunicorn's gthread worker: while this passes,
    quit_from_the_main_loop() stays. The stack dump shows the worker's main thread waiting
    in the pool's shutdown(), called by the QUIT handler, inside submit()."""
    server = gunicorn(launch, tmp_path, CONFIG + GTHREAD + PLAIN_QUIT_INSIDE_SUBMIT)
    worker = quit_victim(server)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert alive(worker), "a gthread worker now quits inside submit(): drop the workaround"
        os.kill(worker, signal.SIGUSR2)
        time.sleep(0.5)
        dump = server.output().rpartition("QUIT inside submit()")[2]
        main_thread = dump.rpartition("Current thread")[2]
        if "in shutdown" in main_thread and "in submit" in main_thread:
            assert f"Worker exiting (pid: {worker})" not in server.output()
            # A graceful stop would wait on the deadlocked worker: end them all now.
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait()
            return
    pytest.fail(f"no stack showed the deadlock within 20 s:\n{server.output()}")


def test_the_workaround_quits_a_gthread_worker_inside_submit(
    launch: Callable[..., Launched], baked_default: Path
) -> None:
    server = gunicorn(launch, baked_default, CONFIG + GTHREAD + PROJECT_QUIT_INSIDE_SUBMIT)
    worker = quit_victim(server)
    server.wait_for_output(f"Worker exiting (pid: {worker})", seconds=20)
    deadline = time.monotonic() + 20
    while alive(worker):
        assert time.monotonic() < deadline, f"worker {worker} still running after QUIT"
        time.sleep(0.05)
