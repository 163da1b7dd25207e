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
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support import (
    Burst,
    Launched,
    access_log,
    finish_burst,
    slow_client_bound,
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


def wait_until(condition: Callable[[], object], seconds: float, what: str) -> None:
    """Poll `condition` until it holds; fail the test after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {seconds} s")
        time.sleep(0.02)


def answered(output: str, path: str) -> list[datetime]:
    """When each GET of `path` was answered (LOG_FORMAT=json)."""
    return [
        datetime.fromisoformat(record["time"])
        for record in access_log(output)
        if (record["method"], record["path"]) == ("GET", path)
    ]


# GETs of the burst answered before its fault strikes, and at least as many after.
BEFORE_FAULT = 20


def under_burst(
    launcher: str, launch_fault_app: Callable[..., Launched], burst: Callable[..., Burst]
) -> tuple[Launched, Burst, dict[int, int]]:
    """`launcher` serving the fault app, with a 1,600-request burst in flight: its first
    BEFORE_FAULT GETs are in the access log. Also the sockets each worker held at rest."""
    server = launch_fault_app(launcher, WORKERS=str(WORKERS), LOG_FORMAT="json")
    server.wait_healthy(seconds=15)
    at_rest = {pid: open_sockets(pid) for pid in worker_pids(server.process.pid)}
    load = burst(server.project, server.url + BURST_PATH, pages=100, parallel=8)

    def started() -> bool:
        assert load.poll() is None, "the load check ended before the fault"
        return len(answered(server.output(), "/test/slow")) >= BEFORE_FAULT

    wait_until(started, 30, f"{BEFORE_FAULT} GETs of the burst answered")
    return server, load, at_rest


def assert_struck_mid_burst(server: Launched, struck: datetime) -> None:
    """Requests of the burst were answered on both sides of the fault (`struck`)."""
    times = answered(server.output(), "/test/slow")
    before = sum(answered_at < struck for answered_at in times)
    after = len(times) - before
    assert before >= BEFORE_FAULT and after >= BEFORE_FAULT, (before, after)


# What each launcher logs when a HUP reload starts; Granian starts each new worker on
# the new code before it stops an old one, 3.5 s apart.
RELOADED = {"gunicorn": "Hang up", "granian": "gracefully respawning workers"}


@pytest.mark.parametrize("launcher", MULTIPROCESS)
def test_reload_during_a_burst_loses_no_request(
    launch_fault_app: Callable[..., Launched], burst: Callable[..., Burst], launcher: str
) -> None:
    server, load, _ = under_burst(launcher, launch_fault_app, burst)
    struck = datetime.now(UTC)
    os.kill(server.process.pid, signal.SIGHUP)
    summary = finish_burst(load)
    print(f"reload ({launcher}): {summary['requests']} requests, {summary['failed_pairs']} failed")
    assert RELOADED[launcher] in server.output(), "the reload never happened"
    assert summary["failed_pairs"] == 0, summary
    assert_struck_mid_burst(server, struck)


@pytest.mark.parametrize("launcher", MULTIPROCESS)
def test_graceful_stop_finishes_accepted_requests(
    launch_fault_app: Callable[..., Launched], launcher: str, request: pytest.FixtureRequest
) -> None:
    server = launch_fault_app(launcher, WORKERS=str(WORKERS))
    server.wait_healthy(seconds=15)
    # A kept-alive connection, as a load balancer's health checker holds one.
    checker = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    request.addfinalizer(checker.close)
    checker.request("GET", "/readyz")
    first = checker.getresponse()
    first.read()
    assert first.status == 200, "not ready before the stop"
    sent: list[int] = []

    def slow_request() -> int:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        try:
            connection.request("GET", f"/test/slow?seconds={IN_FLIGHT_SECONDS}")
            sent.append(1)
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()

    def all_accepted() -> bool:
        return len(sent) == 40 and waiting_in_the_kernel(server.port) == 0

    with ThreadPoolExecutor(max_workers=40) as pool:
        requests = [pool.submit(slow_request) for _ in range(40)]
        # Every request sent and taken by a worker: a stop resets one still in the kernel.
        # Twice in a row, as /proc/net/tcp is read a row at a time.
        wait_until(lambda: all_accepted() and all_accepted(), 15, "40 requests accepted")
        stopped_at = time.monotonic()
        os.kill(server.process.pid, signal.SIGTERM)
        # The checker must see the stop while the accepted requests still run. It asks
        # every CHECK_SECONDS, as health checkers do: between checks its connection is
        # idle, and a server that stops closes idle connections.
        readiness = "200"
        while readiness == "200" and not any(future.done() for future in requests):
            time.sleep(CHECK_SECONDS)
            readiness = ready_after_stop(checker)
        statuses = [future.result() for future in requests]
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


# Seconds each request of the graceful stop test runs: its stop and the drain it shows a
# health checker come while they do.
IN_FLIGHT_SECONDS = 3
# Seconds between the health checker's requests after the stop.
CHECK_SECONDS = 0.25


def waiting_in_the_kernel(port: int) -> int:
    """Connections to 127.0.0.1:port no worker has accepted yet: mid-handshake (SYN_RECV,
    where TCP_DEFER_ACCEPT also holds one until its request arrives) or in a listening
    socket's accept queue (its rx_queue in /proc/net/tcp)."""
    waiting = 0
    for row in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        _, local, _, state, queues, *_ = row.split()
        if int(local.split(":")[1], 16) != port:
            continue
        if state == "03":  # SYN_RECV
            waiting += 1
        elif state == "0A":  # LISTEN
            waiting += int(queues.split(":")[1], 16)
    return waiting


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
    server, load, at_rest = under_burst(launcher, launch_fault_app, burst)
    # The busiest worker: the most sockets beyond those it holds at rest.
    held = {pid: open_sockets(pid) - sockets for pid, sockets in at_rest.items()}
    victim = max(held, key=held.__getitem__)
    struck = datetime.now(UTC)
    os.kill(victim, signal.SIGKILL)
    summary = finish_burst(load)
    print(
        f"crash ({launcher}): {summary['requests']} requests, {summary['failed_pairs']} failed "
        f"pairs, killed worker held {held[victim]} connections"
    )
    assert held[victim] > 0, "the killed worker held none of the burst's connections"
    assert summary["failed_pairs"] <= held[victim], summary
    assert_struck_mid_burst(server, struck)
    assert server.get("/healthz")[0] == 200

    def replaced() -> bool:
        workers = worker_pids(server.process.pid)
        return len(workers) == WORKERS and victim not in workers

    wait_until(replaced, 30, "the killed worker replaced")


# What replaces a worker whose request hangs past TIMEOUT: gthread and gevent workers go
# on heartbeating past Gunicorn's TIMEOUT, and Granian has no request timeout, so
# service/watchdog.py does, under both. It logs "ran over TIMEOUT".
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
    first_workers = set(worker_pids(server.process.pid))
    hung: dict[str, object] = {}

    def hang() -> None:
        started = time.monotonic()
        try:
            hung["status"] = server.get(f"/test/slow?seconds={HANG}", timeout=2 * HANG)[0]
        except OSError as error:
            hung["error"] = error
        hung["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=hang, daemon=True)
    thread.start()

    def replaced() -> bool:
        workers = set(worker_pids(server.process.pid))
        return len(workers) == WORKERS and workers != first_workers

    # /healthz all along: while the request hangs, while its worker stops, and until a
    # fresh worker has taken its place.
    healthz: list[int | str] = []
    deadline = time.monotonic() + REPLACED_WITHIN
    while thread.is_alive() or not replaced():
        if time.monotonic() > deadline:
            pytest.fail(f"hung request: {hung}; workers {first_workers} -> {replaced()}")
        healthz.append(status_or_error(server, "/healthz"))
        time.sleep(0.1)
    healthz += [status_or_error(server, "/healthz") for _ in range(5)]
    print(f"hung handler ({case}): {healthz.count(200)}/{len(healthz)} answered, {hung}")
    assert set(healthz) == {200}, healthz
    assert "ran over TIMEOUT" in server.output()
    # Cut off by the server (its worker gone), well before the handler would have
    # returned and before the client's own timeout.
    assert isinstance(hung.get("error"), ConnectionResetError), hung
    assert float(hung["seconds"]) < CUT_OFF, hung


# The hung handler's sleep; the watchdog stops its worker after TIMEOUT (2 s) and
# GRACEFUL_TIMEOUT (2 s), long before CUT_OFF. A ceiling for the worker's replacement.
HANG = 30
CUT_OFF = 20
REPLACED_WITHIN = 60


def status_or_error(server: Launched, path: str) -> int | str:
    try:
        return server.get(path, timeout=2)[0]
    except OSError as error:
        return repr(error)


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
    reference = slowest_request_among_slow_clients(server.port, 0, "idle")
    slowest = slowest_request_among_slow_clients(server.port, SLOW_CLIENTS, kind)
    bound = slow_client_bound(reference)
    print(
        f"slow clients ({case}, {SLOW_CLIENTS} {kind}): slowest request {slowest:.3f} s, "
        f"{reference:.3f} s without them, bound {bound:.2f} s"
    )
    assert slowest < bound
