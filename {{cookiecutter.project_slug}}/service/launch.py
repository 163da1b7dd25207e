"""What each launcher does at start: room for a burst's sockets, and one line on capacity."""


def raise_open_file_limit(wanted: int) -> None:
    """Room for `wanted` sockets, past the usual soft limit of 1,024 open files (never past
    the hard limit)."""
    try:
        import resource  # POSIX only; Windows has no such per-process limit to raise.
    except ImportError:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def capacity_line(processes: int, per_process: int, connections: int) -> str:
    """Logged once at start, so capacity is never a guess."""
    return (
        f"capacity: {processes} process(es) x {per_process} = {processes * per_process} "
        f"concurrent requests; up to {connections} open connections"
    )
