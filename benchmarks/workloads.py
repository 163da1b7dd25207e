"""The two workloads: the shipped load check's burst, and a steady closed-loop load; and
the database connections a burst takes."""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import cputime
import psycopg

CpuClock = Callable[[], float | None]


@dataclass(frozen=True)
class Burst:
    pages: int
    parallel: int
    timeout: float


def io_burst(
    loadcheck: Path, url: str, origin: str, burst: Burst, server_clock: CpuClock
) -> dict[str, object]:
    """Run the project's own tools/loadcheck.py; its JSON summary, plus the cores the
    server and the client kept busy over the run (2 in all on 2 cores: CPU-bound)."""
    command = [
        *(sys.executable, str(loadcheck), url, "--origin", origin, "--json"),
        *("--pages", str(burst.pages), "--parallel", str(burst.parallel)),
        *("--timeout", str(burst.timeout)),
    ]
    server_before, client_before = server_clock(), cputime.children_seconds()
    machine_before, began = cputime.machine_busy_seconds(), time.perf_counter()
    # A preflight and its GET each get the timeout; the rest is start-up and slack.
    result = subprocess.run(  # noqa: S603 (our own interpreter and arguments)
        command, capture_output=True, text=True, timeout=2 * burst.timeout + 60, check=False
    )
    wall = time.perf_counter() - began
    server_after, machine_after = server_clock(), cputime.machine_busy_seconds()
    # Exit 1 only means some pairs failed, which is a result; anything else is not.
    if result.returncode not in (0, 1):
        raise RuntimeError(f"loadcheck exited {result.returncode}: {result.stderr.strip()}")
    summary = json.loads(result.stdout)
    # In cores over the run. The client's count its start-up too; the server's, idle moments.
    client = cputime.children_seconds() - client_before
    summary["client_cores"] = round(client / wall, 2)
    if server_before is not None and server_after is not None:
        summary["server_cores"] = round((server_after - server_before) / wall, 2)
    if machine_before is not None and machine_after is not None:
        summary["machine_cores"] = round((machine_after - machine_before) / wall, 2)
    return summary


class ConnectionPeak(threading.Thread):
    """The most connections to `database` open at once while it runs (a `with` block),
    from pg_stat_activity every 10 ms. It asks from the database `server_url` names, so
    it never counts itself."""

    QUERY = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s"

    def __init__(self, server_url: str, database: str) -> None:
        super().__init__(daemon=True)
        self.server_url, self.database = server_url, database
        # None: not measured (the sampler could not ask, or stopped asking).
        self.most: int | None = None
        self.done = threading.Event()

    def run(self) -> None:
        try:
            with psycopg.connect(self.server_url, autocommit=True) as connection:
                most = 0
                while not self.done.wait(0.01):
                    (count,) = connection.execute(self.QUERY, (self.database,)).fetchone() or (0,)
                    most = max(most, count)
        except psycopg.Error as error:
            print(f"connection sampler stopped: {error}", file=sys.stderr)
            return
        self.most = most

    def __enter__(self) -> ConnectionPeak:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.done.set()
        self.join(timeout=10)


@dataclass
class SteadyResult:
    """Answered requests of one app over every slice it was loaded for."""

    latencies: list[float] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    # CPU seconds the server's processes spent during the slices (None: not measurable).
    server_cpu: float | None = 0.0

    def summary(self) -> dict[str, object]:
        ordered = sorted(self.latencies)
        cpu = self.server_cpu
        return {
            "requests": len(ordered),
            "errors": sum(self.errors.values()),
            "error_kinds": dict(self.errors),
            # The median slice: one slice hit by a neighbour's load does not move it.
            "requests_per_second": round(statistics.median(self.rates), 1),
            "slice_rates": [round(rate, 1) for rate in self.rates],
            "p50_ms": round(1000 * statistics.median(ordered), 1) if ordered else None,
            "p99_ms": round(1000 * ordered[int(0.99 * (len(ordered) - 1))], 1) if ordered else None,
            "server_cpu_us": round(1e6 * cpu / len(ordered), 1) if cpu and ordered else None,
        }


async def closed_loop(
    url: str, headers: dict[str, str], clients: int, seconds: float, result: SteadyResult
) -> None:
    """`clients` keep-alive clients for `seconds`, each sending its next request when
    the last one answers; adds this slice's rate and latencies to `result`."""
    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=10)
    answered = 0
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        began = time.perf_counter()
        end = began + seconds

        async def client() -> None:
            nonlocal answered
            while (sent := time.perf_counter()) < end:
                try:
                    async with session.get(url, headers=headers) as response:
                        await response.read()
                except (TimeoutError, aiohttp.ClientError) as error:
                    result.errors[type(error).__name__] += 1
                    continue
                if response.status != 200:
                    result.errors[f"status {response.status}"] += 1
                    continue
                result.latencies.append(time.perf_counter() - sent)
                answered += 1

        await asyncio.gather(*(client() for _ in range(clients)))
        result.rates.append(answered / (time.perf_counter() - began))


async def timed_slice(
    url: str,
    clock: CpuClock,
    headers: dict[str, str],
    clients: int,
    seconds: float,
    result: SteadyResult,
) -> None:
    """One slice, also charging the server's CPU time during it to `result`."""
    before = clock()
    await closed_loop(url, headers, clients, seconds, result)
    after = clock()
    if before is None or after is None or result.server_cpu is None:
        result.server_cpu = None
    else:
        result.server_cpu += after - before


async def interleaved(
    targets: dict[str, tuple[str, CpuClock]],
    headers: dict[str, str],
    clients: int,
    seconds: float,
    rounds: int,
) -> dict[str, SteadyResult]:
    # Other work on the machine comes and goes: apps take turns in short slices (each
    # round starting with the next one), so a busy moment hits them all alike.
    for url, _ in targets.values():
        await closed_loop(url, headers, clients, 1.0, SteadyResult())  # warm-up, discarded
    results = {name: SteadyResult() for name in targets}
    names = list(targets)
    for round_number in range(rounds):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            url, clock = targets[name]
            await timed_slice(url, clock, headers, clients, seconds / rounds, results[name])
    return results


def steady_load(
    targets: dict[str, tuple[str, CpuClock]],
    origin: str,
    clients: int,
    seconds: float,
    rounds: int = 5,
) -> dict[str, dict[str, object]]:
    """Cross-origin GETs (with Origin, as a browser sends them) under a steady load, on
    each target (a URL and its server's CPU clock) for `seconds` in all, in `rounds`
    interleaved slices."""
    headers = {"Origin": origin}
    found = asyncio.run(interleaved(targets, headers, clients, seconds, rounds))
    return {name: result.summary() for name, result in found.items()}
