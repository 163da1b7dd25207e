"""Tables, targets and the chart, from the measurements of one run."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from servers import Setup

Summary = dict[str, Any]


@dataclass
class Measurement:
    """What one server (a setting serving one app) answered."""

    setup: Setup
    target: str
    ready_seconds: float
    io: Summary | None = None
    cpu: Summary | None = None


@dataclass
class Results:
    measurements: dict[tuple[str, str], Measurement] = field(default_factory=dict)
    # Seconds from ./start.sh to /healthz, by the bake's name.
    start_sh_ready: dict[str, float] = field(default_factory=dict)
    # The version of the PostgreSQL server the DB-backed burst ran on, once started.
    postgres: str | None = None
    # Steady-load summaries of launchers loaded side by side (interleaved slices), by key.
    side_by_side: dict[str, dict[str, object]] = field(default_factory=dict)
    # The side-by-side burst: each round's summary, by (setting's key, app).
    burst_rounds: dict[tuple[str, str], list[Summary]] = field(default_factory=dict)

    def add(self, measurement: Measurement) -> None:
        self.measurements[(measurement.setup.key, measurement.target)] = measurement

    def get(self, key: str, target: str = "app") -> Measurement | None:
        return self.measurements.get((key, target))

    def io_rate(self, key: str, target: str = "app") -> float | None:
        found = self.get(key, target)
        return found.io["requests_per_second"] if found and found.io else None


@dataclass(frozen=True)
class Target:
    name: str
    measured: str
    passed: bool | None  # None: not measured in this run

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "FAIL", None: "n/a"}[self.passed]


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    return numerator / denominator if numerator is not None and denominator else None


def fmt(value: float | None, pattern: str = "{:,.0f}") -> str:
    return "n/a" if value is None else pattern.format(value)


def failed_share(io: Summary) -> float:
    return 100 * io["failed_pairs"] / io["pairs"]


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    # Text columns left, number columns right, as a reader scans them.
    align = ["---" if i == 0 else "---:" for i in range(len(headers))]
    lines = [headers, align, *rows]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


CORES = ("server_cores", "client_cores", "machine_cores")


def io_row(
    results: Results, setup: Setup, reference: Setup, target: str = "", label: str = ""
) -> list[str]:
    target = target or setup.burst_apps[0]
    found = results.get(setup.key, target)
    if found is None or found.io is None:
        return [label or setup.label, *["n/a"] * 8]
    io = found.io
    versus_reference = ratio(io["requests_per_second"], reference_rate(results, reference))
    versus_bare = ratio(io["requests_per_second"], results.io_rate(setup.key, "bare"))
    return [
        label or setup.label,
        *burst_cells(io),
        fmt(versus_reference, "{:.2f}x"),
        fmt(versus_bare, "{:.0%}") if target == "app" else "-",
        *busy_cells(io, found.ready_seconds),
    ]


# A burst table's columns: the server, these, the table's own, then BUSY_HEADERS.
BURST_HEADERS = ["Failed pairs", "Requests/s", "p50 ms", "p99 ms"]
BUSY_HEADERS = ["Cores busy: server / load check / whole machine", "Ready in s"]


def burst_cells(io: Summary) -> list[str]:
    return [
        f"{io['failed_pairs']} / {io['pairs']} ({failed_share(io):.0f}%)",
        fmt(io["requests_per_second"]),
        fmt(io["p50_ms"]),
        fmt(io["p99_ms"]),
    ]


def busy_cells(io: Summary, ready_seconds: float) -> list[str]:
    cores = " / ".join(fmt(io.get(name), "{:.1f}") for name in CORES)
    return [cores, fmt(ready_seconds, "{:.1f}")]


def reference_rate(results: Results, reference: Setup) -> float | None:
    return results.io_rate(reference.key, reference.burst_apps[0])


def io_table(results: Results, setups: Sequence[Setup], ceiling: Setup, reference: Setup) -> str:
    headers = [
        "Server",
        *BURST_HEADERS,
        "vs reference",
        "vs bare WSGI, same server",
        *BUSY_HEADERS,
    ]
    rows = [io_row(results, setup, reference) for setup in setups]
    ceiling_label = f"ceiling: bare WSGI app on {ceiling.label}"
    rows.append(io_row(results, ceiling, reference, "bare", ceiling_label))
    return markdown_table(headers, rows)


def round_ratio(results: Results, key: tuple[str, str], other: tuple[str, str]) -> float | None:
    """The median over rounds of one server's burst requests/s over another's in the same
    round: bursts seconds apart, so a busy moment of the machine hits both."""
    ours, theirs = results.burst_rounds.get(key, []), results.burst_rounds.get(other, [])
    ratios = [
        mine["requests_per_second"] / their["requests_per_second"]
        for mine, their in zip(ours, theirs, strict=False)
        if their["requests_per_second"]
    ]
    return statistics.median(ratios) if ratios else None


def side_by_side_row(
    results: Results, setup: Setup, target: str, reference: tuple[str, str], peer: str
) -> list[str]:
    label = f"{setup.label} / {APP_NAMES[target]}"
    rounds = results.burst_rounds.get((setup.key, target))
    if not rounds:
        return [label, *["n/a"] * 5]
    failed = sum(summary["failed_pairs"] for summary in rounds)
    pairs = sum(summary["pairs"] for summary in rounds)
    rates = [summary["requests_per_second"] for summary in rounds]
    versus_reference = round_ratio(results, (setup.key, target), reference)
    versus_peer = round_ratio(results, (setup.key, target), (setup.key, peer))
    return [
        label,
        f"{failed} / {pairs}",
        " / ".join(fmt(rate) for rate in rates),
        fmt(statistics.median(rates)),
        "-" if (setup.key, target) == reference else fmt(versus_reference, "{:.2f}x"),
        "-" if target == peer or versus_peer is None else fmt(versus_peer, "{:.2f}x"),
    ]


# The apps of bench_app.py, as the side-by-side table names them.
APP_NAMES = {
    "app": "generated app",
    "cors": "plain Flask + flask-cors",
    "bare": "bare WSGI",
}


def side_by_side_table(
    results: Results, apps: Sequence[tuple[Setup, str]], reference: Setup
) -> str:
    headers = [
        "Server / app",
        "Failed pairs, all rounds",
        "Requests/s, each round",
        "Median req/s",
        "vs reference, median round",
        "vs plain Flask + flask-cors on the same server, median round",
    ]
    key = (reference.key, reference.burst_apps[0])
    rows = [side_by_side_row(results, setup, target, key, "cors") for setup, target in apps]
    return markdown_table(headers, rows)


def db_row(results: Results, setup: Setup, budget: int) -> list[str]:
    found = results.get(setup.key)
    if found is None or found.io is None:
        return [setup.label, *["n/a"] * 9]
    io = found.io
    failed, *measured = burst_cells(io)
    # What failed matters here: a 503 is the pool or the database, a timeout the server.
    kinds = ", ".join(f"{kind} x {count}" for kind, count in sorted(io["failures"].items()))
    return [
        setup.label,
        failed + (f": {kinds}" if kinds else ""),
        *measured,
        fmt(io.get("slowest_ms")),
        io.get("pool") or "n/a",
        f"{fmt(io.get('peak_connections'))} / {budget}",
        *busy_cells(io, found.ready_seconds),
    ]


def db_table(results: Results, setups: Sequence[Setup], budget: int) -> str:
    headers = [
        "Server",
        *BURST_HEADERS,
        "Slowest in the server ms",
        "Pool at start: processes x (pooled + 1 for /readyz) = connections",
        "Peak connections / budget",
        *BUSY_HEADERS,
    ]
    return markdown_table(headers, [db_row(results, setup, budget) for setup in setups])


def connections_within(results: Results, setup: Setup, budget: int) -> Target:
    """The most connections the burst held on its database, within DB_MAX_CONNECTIONS."""
    name = f"DB-backed burst: {setup.label}, peak connections <= DB_MAX_CONNECTIONS={budget}"
    found = results.get(setup.key)
    peak = found.io.get("peak_connections") if found and found.io else None
    if peak is None:
        return Target(name, "not measured", None)
    # No connection seen while the queries ran: the sampler saw nothing, which is no pass.
    return Target(name, f"{peak} connections", 0 < peak <= budget)


CPU_TARGETS = ("app", "quiet", "plain", "logged", "bare")


def cpu_errors(results: Results, key: str) -> int:
    """Failed requests of the steady load, over every app on one setting."""
    found = (results.get(key, target) for target in CPU_TARGETS)
    return sum(m.cpu["errors"] for m in found if m is not None and m.cpu is not None)


def cpu_value(results: Results, key: str, target: str, name: str) -> float | None:
    found = results.get(key, target)
    return found.cpu[name] if found and found.cpu else None


def cpu_share(
    results: Results, key: str, baseline: str = "plain"
) -> tuple[float | None, float | None]:
    """The generated app next to `baseline`: its requests/s as a share of the baseline's,
    and its server CPU per request as a multiple of the baseline's (the steadier one when
    other work shares the machine)."""
    by_rate = ratio(
        cpu_value(results, key, "app", "requests_per_second"),
        cpu_value(results, key, baseline, "requests_per_second"),
    )
    by_cpu = ratio(
        cpu_value(results, key, "app", "server_cpu_us"),
        cpu_value(results, key, baseline, "server_cpu_us"),
    )
    return by_rate, by_cpu


def cpu_row(results: Results, setup: Setup) -> list[str]:
    by_rate, by_cpu = cpu_share(results, setup.key)
    logged_rate, logged_cpu = cpu_share(results, setup.key, "logged")
    rates = [cpu_value(results, setup.key, t, "requests_per_second") for t in CPU_TARGETS]
    costs = [cpu_value(results, setup.key, t, "server_cpu_us") for t in CPU_TARGETS]
    p50, p99 = (cpu_value(results, setup.key, "app", name) for name in ("p50_ms", "p99_ms"))
    return [
        setup.label,
        " / ".join(fmt(rate) for rate in rates),
        fmt(by_rate, "{:.0%}"),
        " / ".join(fmt(cost) for cost in costs),
        fmt(by_cpu, "{:.2f}x"),
        f"{fmt(logged_rate, '{:.0%}')} / {fmt(logged_cpu, '{:.2f}x')}",
        f"{fmt(p50, '{:.1f}')} / {fmt(p99, '{:.1f}')}",
        str(cpu_errors(results, setup.key)),
    ]


def cpu_table(results: Results, setups: Sequence[Setup]) -> str:
    headers = [
        "Server",
        "req/s: generated / same, no access log / plain Flask / plain + access line / bare WSGI",
        "Generated / plain, by req/s",
        "Server CPU µs per request, same order",
        "Generated / plain, CPU per request",
        "Generated / plain + access line, by req/s / CPU per request",
        "Generated p50 / p99 ms",
        "Errors",
    ]
    return markdown_table(headers, [cpu_row(results, setup) for setup in setups])


def cpu_target(results: Results, setup: Setup, limit: float) -> Target:
    """Server CPU per request of the generated app, as a multiple of plain Flask's."""
    name = f"CPU-light: {setup.label}, server CPU per request <= {limit:g}x plain Flask's"
    multiple = cpu_share(results, setup.key)[1]
    if multiple is None:
        return Target(name, "not measured", None)
    return Target(name, f"{multiple:.2f}x", multiple <= limit)


def zero_failures(results: Results, setup: Setup) -> Target:
    found = results.get(setup.key)
    if found is None or found.io is None:
        return Target(f"zero failed pairs: {setup.label}", "not measured", None)
    failed = found.io["failed_pairs"]
    return Target(f"zero failed pairs: {setup.label}", f"{failed} failed", failed == 0)


def at_least(name: str, value: float | None, minimum: float) -> Target:
    if value is None:
        return Target(name, "not measured", None)
    return Target(name, f"{value:.2f}x", value >= minimum)


def ready_within(launcher: str, seconds: float | None, limit: float) -> Target:
    name = f"{launcher} answers /healthz within {limit:g} s of start"
    if seconds is None:
        return Target(name, "not measured", None)
    return Target(name, f"{seconds:.2f} s", seconds <= limit)


def targets_table(targets: Sequence[Target]) -> str:
    rows = [[target.name, target.measured, target.verdict] for target in targets]
    return markdown_table(["Target (2 cores)", "Measured", "Verdict"], rows)


def save_chart(results: Results, setups: Sequence[Setup], path: Path, title: str) -> None:
    """Failed pairs (%) and p99 (ms) of the I/O burst per server, side by side."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on a server or in CI
    import matplotlib.pyplot as plt

    measured = [(s, m) for s in setups if (m := results.get(s.key)) and m.io]
    labels = [setup.label for setup, _ in measured]
    failed = [failed_share(m.io) for _, m in measured]  # type: ignore[arg-type]
    p99 = [m.io["p99_ms"] or 0 for _, m in measured]  # type: ignore[index]
    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 0.55 * len(labels) + 1.8), sharey=True)
    left.barh(labels, failed, color="tab:red")
    left.set_xlabel("failed preflight+GET pairs (%)")
    left.set_xlim(0, 100)
    right.barh(labels, p99, color="tab:blue")
    right.set_xlabel("p99 latency of the answered requests (ms)")
    right.set_xlim(0, max(p99, default=0) * 1.2 or 1)  # room for the labels
    left.invert_yaxis()  # the first server on top, as in the table
    for axis, values, unit in ((left, failed, "%"), (right, p99, " ms")):
        for row, value in enumerate(values):
            axis.annotate(f" {value:,.0f}{unit}", (value, row), va="center", fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
