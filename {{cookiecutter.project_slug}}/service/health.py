{%- set database = cookiecutter.database == "postgresql" -%}
"""Health and readiness checks for launchers, load balancers and orchestrators."""

import threading

from apiflask import APIBlueprint
from pydantic import BaseModel
{%- if database %}

from service.db import database_ready
{%- endif %}

bp = APIBlueprint("health", __name__)

# Set when this process is asked to stop: it finishes what it has, but load balancers
# must stop sending it new work at once.
draining = threading.Event()


class Status(BaseModel):
    status: str


NOT_READY = {
    "description": "Not taking new work: stopping{% if database %}, or the database is down{% endif %}.",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Status"}}},
}


@bp.get("/healthz")
@bp.output(Status)
def healthz() -> dict[str, str]:
    """Whether the process answers."""
    # Liveness touches no dependency: a slow database must not get the process restarted.
    return {"status": "ok"}


@bp.get("/readyz")
@bp.output(Status)
@bp.doc(responses={503: NOT_READY})
def readyz() -> tuple[dict[str, str], int]:
    """Whether the process takes new work."""
    # Not ready while shutting down: leave the rotation before the server stops accepting.
    if draining.is_set():
        return {"status": "draining"}, 503
{%- if database %}
    # Out of rotation while the database does not answer (asked at most once a second).
    if not database_ready():
        return {"status": "database unavailable"}, 503
{%- endif %}
    return {"status": "ready"}, 200
