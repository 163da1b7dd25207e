"""What every launcher does at start: make room for a burst's sockets, and say how much it holds."""

from __future__ import annotations


def raise_open_file_limit(wanted: int) -> None:
    """Let the process hold `wanted` sockets: a burst of browser connections needs more
    than the usual soft limit of 1,024 open files. The hard limit is never exceeded."""
    try:
        import resource  # POSIX only; Windows has no such per-process limit to raise.
    except ImportError:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def capacity_line(processes: int, per_process: int, connections: int) -> str:
    """The one line each launcher logs at start, so capacity is never a guess."""
    return (
        f"capacity: {processes} process(es) x {per_process} = {processes * per_process} "
        f"concurrent requests; up to {connections} open connections"
    )
