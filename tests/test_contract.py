"""Each real launcher keeps the bake's API contract: schemathesis, with every check, drives
the committed openapi.json against the shipped start command and finds nothing the
document does not say (a 500, an undocumented status, a body off its schema, a refused
valid request, an accepted invalid one). database=postgresql: tests/test_database.py.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import SHIPPED_START, Launched, schemathesis

# Each launcher as users start it, in a bake of its own.
LAUNCHERS = {
    "gunicorn-gthread": {"server": "gunicorn"},
    "gunicorn-gevent": {"server": "gunicorn", "worker_class": "gevent"},
    "waitress": {"server": "waitress"},
    "granian": {"server": "granian"},
}


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_schemathesis_finds_nothing(
    cookies_session, launch: Callable[..., Launched], launcher: str
) -> None:
    answers = LAUNCHERS[launcher]
    result = cookies_session.bake(extra_context=answers)
    assert result.exit_code == 0, result.exception
    project = Path(result.project_path)
    service = launch(project, SHIPPED_START[answers["server"]], WORKERS="2")
    service.wait_healthy(seconds=30)

    found = schemathesis(project, service.url)

    print(f"{launcher}: {found.stdout.strip().splitlines()[-1]}")
    assert found.returncode == 0, found.stdout[-6000:] + found.stderr[-2000:]
