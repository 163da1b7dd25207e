"""What a newcomer does first: bake with defaults, start, and see /healthz answer."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import Launched

# A ceiling for a start that is stuck, not a speed budget: how fast a cold start is on a
# machine shared with other tests is a benchmark's question, not a test's.
STARTUP_SECONDS = 30.0
LAUNCHERS = {
    "gunicorn": ["./start.sh"],
    "waitress": [sys.executable, "wsgi.py"],
    "granian": ["./start.sh"],
}
# (server answer, launcher started): "both" ships and must start either way.
CASES = [
    ("gunicorn", "gunicorn"),
    ("waitress", "waitress"),
    ("granian", "granian"),
    ("both", "gunicorn"),
    ("both", "waitress"),
]


@pytest.mark.parametrize(("server", "launcher"), CASES, ids=[":".join(case) for case in CASES])
def test_baked_launcher_starts_and_answers_healthz(
    cookies, launch: Callable[..., Launched], server: str, launcher: str
) -> None:
    result = cookies.bake(extra_context={"server": server})
    assert result.exit_code == 0, result.exception
    project = Path(result.project_path)

    started = launch(project, LAUNCHERS[launcher], WORKERS="2")
    elapsed = started.wait_healthy(seconds=STARTUP_SECONDS)
    status, headers, body = started.get("/healthz")
    assert (status, body) == (200, b'{"status":"ok"}\n')
    assert headers["Content-Type"] == "application/json"
    output = started.wait_for_output("capacity:")
    assert "development server" not in output
    print(f"{server}:{launcher} answered /healthz after {elapsed:.2f} s")
