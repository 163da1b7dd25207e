"""CPU time, to tell a server's limit from the machine's: who kept the cores busy."""

from __future__ import annotations

import contextlib
import os
import resource
from pathlib import Path

PROC = Path("/proc")


def cores() -> int:
    """Cores this process may run on (what WORKERS=auto counts), as the service counts them."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def session_seconds(session: int) -> float | None:
    """CPU seconds (user + system) used so far by the live processes of a session: a
    server and every worker it forked. None where there is no Linux /proc."""
    if not (PROC / "self" / "stat").exists():
        return None
    ticks = 0
    for stat in PROC.glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):  # it may exit meanwhile
            # Fields after "(comm)": state ppid pgrp session ... utime (12th) stime (13th).
            fields = stat.read_text().rpartition(")")[2].split()
            if int(fields[3]) == session:
                ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float | None:
    """CPU seconds every core has spent busy since boot, summed (Linux /proc/stat)."""
    with contextlib.suppress(OSError):
        fields = [int(field) for field in (PROC / "stat").read_text().split("\n")[0].split()[1:]]
        idle, iowait = fields[3], fields[4]
        return (sum(fields[:8]) - idle - iowait) / os.sysconf("SC_CLK_TCK")
    return None


def children_seconds() -> float:
    """CPU seconds of this process's finished (waited-for) children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
