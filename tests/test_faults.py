"""Bad days under Gunicorn and Granian (and Waitress where it applies): reloads, stops,
crashes, hangs and slow clients, each during real traffic."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import (
    Burst,
    Launched,
    finish_burst,
    slowest_request_among_slow_clients,
)

WORKERS = 2
# The launchers with worker processes, which are replaced, reloaded and drained.
MULTIPROCESS = ["gunicorn", "granian"]
# Slow enough that a burst is still in flight when the fault strikes.
BURST_PATH = "/test/slow?seconds=0.05"


def worker_pids(master: int) -> list[int]:
    """The server's workers: its children, less multiprocessing's resource tracker, which
    Granian's (spawned) workers come with."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [
        int(pid)
        for pid in children
        if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]


def open_sockets(pid: int) -> int:
    """Sockets `pid` holds now; a busy worker closes some while they are counted."""
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(FileNotFoundError):
            count += os.readlink(fd).startswith("socket:")
    return count


def under_burst(
    launcher: str, launch_fault_app: Callable[..., Launched], burst: Callable[..., Burst]
) -> tuple[Launched, Burst]:
    """`launcher` serving the fault app, with a 1,600-request burst in flight."""
    server = launch_fault_app(launcher, WORKERS=str(WORKERS))
    server.wait_healthy(seconds=15)
    load = burst(server.project, server.url + BURST_PATH, pages=100, parallel=8)
    time.sleep(0.5)
    return server, load


# What each launcher logs when a HUP reload starts; Granian starts each new worker on
# the new code before it stops an old one, 3.5 s apart.
RELOADED = {"gunicorn": "Hang up", "granian": "gracefully respawning workers"}


@pytest.mark.parametrize("launcher", MULTIPROCESS)
def test_reload_during_a_burst_loses_no_request(
    launch_fault_app: Callable[..., Launched], burst: Callable[..., Burst], launcher: str
) -> None:
    server, load = under_burst(launcher, launch_fault_app, burst)
    os.kill(server.process.pid, signal.SIGHUP)
    summary = finish_burst(load)
    print(f"reload ({launcher}): {summary['requests']} requests, {summary['failed_pairs']} failed")
    assert RELOADED[launcher] in server.output(), "the reload never happened"
    assert summary["failed_pairs"] == 0, summary


@pytest.mark.parametrize("launcher", MULTIPROCESS)
def test_graceful_stop_finishes_accepted_requests(
    launch_fault_app: Callable[..., Launched], launcher: str
) -> None:
    server = launch_fault_app(launcher, WORKERS=str(WORKERS))
    server.wait_healthy(seconds=15)
    # A kept-alive connection, as a load balancer's health checker holds one.
    checker = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    checker.request("GET", "/readyz")
    assert checker.getresponse().read() and True

    def slow_request(_: int) -> int:
        return server.get("/test/slow?seconds=1", timeout=10)[0]

    with ThreadPoolExecutor(max_workers=40) as pool:
        statuses = pool.map(slow_request, range(40))
        time.sleep(0.4)  # every request accepted and in a handler
        stopped_at = time.monotonic()
        os.kill(server.process.pid, signal.SIGTERM)
        time.sleep(0.1)
        readiness = ready_after_stop(checker)
        statuses = list(statuses)
    exit_code = server.process.wait(timeout=35)
    stop_seconds = time.monotonic() - stopped_at
    completed = statuses.count(200)
    print(
        f"graceful stop ({launcher}): {completed}/40 completed, /readyz {readiness}, "
        f"exit {exit_code} after {stop_seconds:.1f} s"
    )
    assert statuses == [200] * 40
    assert readiness == DRAINING[launcher]
    assert exit_code == 0
    assert stop_seconds < 30  # GRACEFUL_TIMEOUT
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()


# What a health checker's kept-alive connection sees on /readyz once the stop began:
# Gunicorn's workers answer 503 while they drain; Granian never lets the app see the stop
# and closes idle connections instead, which a checker counts as not ready.
DRAINING = {"gunicorn": "503", "granian": "closed"}


def ready_after_stop(checker: http.client.HTTPConnection) -> str:
    try:
        checker.request("GET", "/readyz")
        readiness = checker.getresponse()
        readiness.read()
    except (http.client.RemoteDisconnected, ConnectionError):
        return "closed"
    return str(readiness.status)


@pytest.mark.parametrize("launcher", MULTIPROCESS)
def test_killed_worker_costs_only_its_own_requests(
    launch_fault_app: Callable[..., Launched], burst: Callable[..., Burst], launcher: str
) -> None:
    server, load = under_burst(launcher, launch_fault_app, burst)
    victim = worker_pids(server.process.pid)[0]
    held = open_sockets(victim) - 1  # less the shared listening socket
    os.kill(victim, signal.SIGKILL)
    summary = finish_burst(load)
    print(
        f"crash ({launcher}): {summary['requests']} requests, {summary['failed_pairs']} failed "
        f"pairs, killed worker held {held} connections"
    )
    assert summary["failed_pairs"] <= held, summary
    assert server.get("/healthz")[0] == 200
    time.sleep(1)
    assert len(worker_pids(server.process.pid)) == WORKERS, "the worker was not replaced"


# What replaces a worker whose request hangs past TIMEOUT: gthread and gevent workers go
# on heartbeating, so service/gunicorn_hooks.py's watchdog does; Granian has no request
# timeout, so service/watchdog.py does. Each logs this.
HUNG_CASES = {
    "gunicorn-gthread": ("gunicorn", {"WORKER_CLASS": "gthread"}),
    "gunicorn-gevent": ("gunicorn", {"WORKER_CLASS": "gevent"}),
    "granian": ("granian", {}),
}


@pytest.mark.parametrize("case", HUNG_CASES)
def test_hung_handler_is_killed_with_its_worker_and_the_rest_keep_answering(
    launch_fault_app: Callable[..., Launched], case: str
) -> None:
    launcher, env = HUNG_CASES[case]
    server = launch_fault_app(
        launcher, WORKERS=str(WORKERS), TIMEOUT="2", GRACEFUL_TIMEOUT="2", **env
    )
    server.wait_healthy(seconds=15)
    hung: dict[str, object] = {}

    def hang() -> None:
        try:
            hung["status"] = server.get("/test/slow?seconds=30", timeout=10)[0]
        except OSError as error:
            hung["error"] = error

    thread = threading.Thread(target=hang)
    thread.start()
    answered = []
    deadline = time.monotonic() + 5  # past TIMEOUT, and past the worker's replacement
    while time.monotonic() < deadline:
        answered.append(server.get("/healthz", timeout=2)[0])
        time.sleep(0.1)
    thread.join(timeout=15)
    print(f"hung handler ({case}): {answered.count(200)}/{len(answered)} answered, {hung}")
    assert answered and set(answered) == {200}
    assert "ran over TIMEOUT" in server.output()
    assert "error" in hung or int(hung.get("status", 200)) >= 500, "the hung request finished"
    time.sleep(1)  # the last GRACEFUL_TIMEOUT has passed: the stopped worker was replaced
    assert len(worker_pids(server.process.pid)) == WORKERS, server.output()


SLOW_CLIENTS = 300
# Where each launcher stands: Waitress reads headers in its event loop and gevent gives
# each connection a greenlet, so both hold slow clients themselves, idle or trickling.
# A gthread worker reads a request's headers in one of its threads, so clients that
# trickle their headers can hold every thread; how many do depends on timing, so that
# case is not asserted here. nginx in front buffers whole requests and holds them:
# test_nginx.py's test_nginx_shields_the_service_from_slow_clients proves it. Granian reads
# requests in Rust, off its Python threads.
SLOW_CASES = {
    "waitress": ("waitress", {}),
    "gunicorn-gevent": ("gunicorn", {"WORKER_CLASS": "gevent"}),
    "gunicorn-gthread": ("gunicorn", {"WORKER_CLASS": "gthread"}),
    "granian": ("granian", {}),
}
SLOW_PARAMS = [
    pytest.param(case, kind, id=f"{case}-{kind}")
    for case in SLOW_CASES
    for kind in ("idle", "trickle")
    if (case, kind) != ("gunicorn-gthread", "trickle")
]


@pytest.mark.parametrize(("case", "kind"), SLOW_PARAMS)
def test_slow_clients_do_not_delay_normal_requests(
    launch_fault_app: Callable[..., Launched], case: str, kind: str
) -> None:
    launcher, env = SLOW_CASES[case]
    server = launch_fault_app(launcher, WORKERS=str(WORKERS), **env)
    server.wait_healthy(seconds=15)
    slowest = slowest_request_among_slow_clients(server.port, SLOW_CLIENTS, kind)
    print(f"slow clients ({case}, {SLOW_CLIENTS} {kind}): slowest request {slowest:.3f} s")
    assert slowest < 1.0
