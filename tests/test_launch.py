"""What a newcomer does first: bake with defaults, start, and see /healthz answer."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Launched

# A newcomer's first start must answer /healthz within 2 s.
STARTUP_SECONDS = 2.0
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
def test_baked_launcher_answers_healthz_quickly(
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
