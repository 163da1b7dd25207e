"""Each launcher, as shipped, holds a Promise.all burst measured by the shipped load check."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import Launched, run

# (answers, launcher): every Gunicorn worker class the prompt offers, the Waitress entry,
# and Granian's start.sh.
CASES = {
    "gunicorn-gthread": ({"server": "gunicorn", "worker_class": "gthread"}, ["./start.sh"]),
    "gunicorn-gevent": ({"server": "gunicorn", "worker_class": "gevent"}, ["./start.sh"]),
    "waitress": ({"server": "waitress"}, [sys.executable, "wsgi.py"]),
    "granian": ({"server": "granian"}, ["./start.sh"]),
}
# A CI-sized burst: 400 pairs in flight at once, each a preflight and a GET.
PAGES, PARALLEL = 50, 8


@pytest.mark.parametrize("case", CASES)
def test_shipped_launcher_holds_a_burst_with_zero_failures(
    cookies, launch: Callable[..., Launched], case: str
) -> None:
    answers, command = CASES[case]
    result = cookies.bake(extra_context=answers)
    assert result.exit_code == 0, result.exception
    project = Path(result.project_path)

    # As shipped: only where to listen changes. The load check's default Origin is the
    # template's default CORS origin, so no CORS setting is needed either.
    server = launch(project, command)
    server.wait_healthy(seconds=15)
    check = run(
        [
            sys.executable,
            "tools/loadcheck.py",
            server.url + "/api/hello",
            "--pages",
            str(PAGES),
            "--parallel",
            str(PARALLEL),
            "--json",
        ],
        project,
        timeout=120,
    )
    assert check.returncode == 0, check.stdout + check.stderr + server.output()[-3000:]
    summary = json.loads(check.stdout)
    assert summary["failed_pairs"] == 0
    assert summary["requests"] == 2 * PAGES * PARALLEL
    print(f"{case}: {json.dumps(summary)}")
