"""Reproduce a browser page's Promise.all burst against a running service.

PAGES pages open at once; each fires PARALLEL cross-origin requests together, and
each request is preceded by its CORS preflight, as a browser does for a fetch()
with an Authorization header. A request that fails here (refused, timed out, an
error status, or missing its CORS header) is one a browser reports as
"blocked by CORS policy". Run it against staging before every release:

    python tools/loadcheck.py https://staging.example.com/api/hello \\
        --origin https://app.example.com --pages 200 --parallel 8

Exit status: 0 when every request succeeded, 1 when any failed, 2 on bad usage
or a URL that cannot be reached at all.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp
from rich.console import Console
from rich.progress import Progress

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


@dataclass
class Results:
    """What the burst saw: requests sent, a latency per success, a kind per failed pair."""

    pairs: int
    sent: int = 0
    latencies: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)

    def summary(self, seconds: float) -> dict[str, object]:
        ordered = sorted(self.latencies)
        return {
            "pairs": self.pairs,
            "failed_pairs": sum(self.failures.values()),
            "failures": dict(self.failures),
            "requests": self.sent,
            "seconds": round(seconds, 3),
            "requests_per_second": round(len(ordered) / seconds, 1) if seconds else 0.0,
            "p50_ms": round(1000 * statistics.median(ordered), 1) if ordered else None,
            "p99_ms": round(1000 * ordered[int(0.99 * (len(ordered) - 1))], 1) if ordered else None,
        }


class UsageError(Exception):
    """Bad arguments: reported as one line with exit status 2."""


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = OneLineParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="URL the page fetches, e.g. http://127.0.0.1:8080/api/hello")
    parser.add_argument("--origin", default="http://localhost:5173", help="the page's origin")
    parser.add_argument("--pages", type=int, default=20, help="pages loading at once")
    parser.add_argument("--parallel", type=int, default=8, help="requests per page (Promise.all)")
    parser.add_argument("--authorization", default="Bearer loadcheck", help="Authorization header")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    parser.add_argument("--json", action="store_true", help="print one JSON object (for CI)")
    args = parser.parse_args(argv)
    parts = urlsplit(args.url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"url must be http(s)://host[:port]/path (got {args.url!r})")
    for name in ("pages", "parallel"):
        if not 1 <= getattr(args, name) <= 10_000:
            raise UsageError(f"--{name} must be from 1 to 10000 (got {getattr(args, name)})")
    if args.timeout <= 0:
        raise UsageError(f"--timeout must be positive (got {args.timeout})")
    return args


class PairFailed(Exception):
    """The pair completed but a browser would reject it; the message is the failure kind."""


async def request_pair(
    session: aiohttp.ClientSession, args: argparse.Namespace, results: Results
) -> None:
    """A preflight, then its GET; raises PairFailed when a browser would reject either."""
    preflight = {
        "Origin": args.origin,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization",
    }
    actual = {"Origin": args.origin, "Authorization": args.authorization}
    for method, headers in (("OPTIONS", preflight), ("GET", actual)):
        results.sent += 1
        started = time.perf_counter()
        async with session.request(method, args.url, headers=headers) as response:
            await response.read()
        if response.status >= 400:
            raise PairFailed(f"{method} status {response.status}")
        if response.headers.get("Access-Control-Allow-Origin") not in (args.origin, "*"):
            raise PairFailed(f"{method} without Access-Control-Allow-Origin")
        results.latencies.append(time.perf_counter() - started)


async def one_pair(
    session: aiohttp.ClientSession, args: argparse.Namespace, results: Results
) -> None:
    try:
        await request_pair(session, args, results)
    except PairFailed as failure:
        results.failures[str(failure)] += 1
    except TimeoutError:
        results.failures["timeout"] += 1
    except aiohttp.ClientError as error:
        results.failures[type(error).__name__] += 1


async def burst(args: argparse.Namespace, progress: Progress | None) -> tuple[Results, float]:
    results = Results(pairs=args.pages * args.parallel)
    task = progress.add_task("pairs", total=results.pairs) if progress else None
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    # One connection per in-flight request, like that many browser tabs at once.
    connector = aiohttp.TCPConnector(limit=results.pairs, force_close=False)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await probe(session, args.url)

        async def tracked() -> None:
            await one_pair(session, args, results)
            if progress:
                progress.advance(task)

        started = time.perf_counter()
        await asyncio.gather(*(tracked() for _ in range(results.pairs)))
        return results, time.perf_counter() - started


async def probe(session: aiohttp.ClientSession, url: str) -> None:
    """Fail fast, with one line, when nothing answers at all."""
    try:
        async with session.get(url) as response:
            await response.read()
    except (TimeoutError, aiohttp.ClientError) as error:
        raise UsageError(f"cannot reach {url}: {error or type(error).__name__}") from None


def raise_open_file_limit(wanted: int) -> None:
    # Every in-flight request holds a socket; the usual soft limit is 1,024.
    with contextlib.suppress(ImportError, ValueError, OSError):
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY and soft < wanted:
            limit = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))


def report(summary: dict[str, object], console: Console) -> None:
    console.print(
        f"{summary['requests']} requests in {summary['seconds']} s "
        f"({summary['requests_per_second']} requests/s), "
        f"p50 {summary['p50_ms']} ms, p99 {summary['p99_ms']} ms"
    )
    if summary["failed_pairs"]:
        console.print(f"FAILED: {summary['failed_pairs']} of {summary['pairs']} pairs")
        for kind, count in sorted(summary["failures"].items()):  # type: ignore[union-attr]
            console.print(f"  {count:>6}  {kind}")
    else:
        console.print(f"OK: all {summary['pairs']} preflight+request pairs succeeded")


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
        raise_open_file_limit(args.pages * args.parallel + 64)
        console = Console()
        # A live progress bar on a terminal only; logs and CI get the summary alone.
        show_progress = console.is_terminal and not args.json
        with Progress(console=console, transient=True, disable=not show_progress) as progress:
            results, seconds = asyncio.run(burst(args, progress if show_progress else None))
    except UsageError as error:
        print(f"loadcheck: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    summary = results.summary(seconds)
    if args.json:
        print(json.dumps(summary))
    else:
        report(summary, console)
    return EXIT_FAILED if summary["failed_pairs"] else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
