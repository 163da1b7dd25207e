"""Free ports on 127.0.0.1 for the servers the tests start.

The template's own tests and benchmark use this file too, so it holds no template syntax.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path


def free_port() -> int:
    """A loopback port no socket holds now, below the kernel's ephemeral range.

    Binding port 0 would give a port from that range, which the kernel also hands out as
    the source port of client sockets: polling it before the server listens could then
    connect the poller to itself, and it would read back its own request.
    """
    low, high = ephemeral_ports()
    below, above = range(max(1024, low - 16384), low), range(high + 1, 65536)
    candidates = below if len(below) >= len(above) else above
    for port in random.sample(candidates, min(200, len(candidates))):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {candidates}")


def ephemeral_ports() -> tuple[int, int]:
    """The kernel's range for client source ports (Linux), else IANA's."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    except OSError:  # not Linux
        return 49152, 65535
    return int(low), int(high)
