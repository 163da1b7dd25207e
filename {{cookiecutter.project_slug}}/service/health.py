"""Health check for launchers, load balancers and tests."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> dict[str, str]:
    # Answers without touching dependencies: a slow database must not get the process restarted.
    return {"status": "ok"}
