"""Health and readiness checks for launchers, load balancers and orchestrators."""

from __future__ import annotations

import threading

from flask import Blueprint

bp = Blueprint("health", __name__)

# Set when this process is asked to stop: it finishes what it has, but load balancers
# must stop sending it new work at once.
_draining = threading.Event()


def mark_draining() -> None:
    _draining.set()


@bp.get("/healthz")
def healthz() -> dict[str, str]:
    # Liveness: answers without touching dependencies, so a slow database does not get
    # the process restarted.
    return {"status": "ok"}


@bp.get("/readyz")
def readyz() -> tuple[dict[str, str], int]:
    # Readiness: not ready while shutting down, so the endpoint leaves the rotation
    # before the server stops accepting.
    if _draining.is_set():
        return {"status": "draining"}, 503
    return {"status": "ready"}, 200
