"""Every dependency set a bake can have installs from the baked project's own files into a
fresh virtualenv, and its launcher starts there as the project's README says.

The rest of the suite runs baked projects with this interpreter, which has every package
any bake could need: a dependency missing from a bake's own files shows only here.
"""

from __future__ import annotations

import venv
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Launched, run

# (answers, launcher as the README starts it, a path that must answer 200)
CASES = {
    "gunicorn-gthread": ({"server": "gunicorn"}, ["./start.sh"], "/healthz"),
    "gunicorn-gevent": (
        {"server": "gunicorn", "worker_class": "gevent"},
        ["./start.sh"],
        "/healthz",
    ),
    "waitress": ({"server": "waitress"}, [".venv/bin/python", "wsgi.py"], "/healthz"),
    "both": ({"server": "both"}, [".venv/bin/python", "wsgi.py"], "/healthz"),
    "metrics": ({"server": "gunicorn", "include_metrics": True}, ["./start.sh"], "/metrics"),
}


@pytest.mark.parametrize("case", CASES)
def test_bake_installs_into_a_fresh_virtualenv_and_starts(
    cookies, launch: Callable[..., Launched], case: str
) -> None:
    answers, command, path = CASES[case]
    result = cookies.bake(extra_context=answers)
    assert result.exit_code == 0, result.exception
    project = Path(result.project_path)

    venv.create(project / ".venv", with_pip=True)
    python = str(project / ".venv" / "bin" / "python")
    install = run([python, "-m", "pip", "install", "-q", "-r", "requirements.txt"], project)
    assert install.returncode == 0, install.stdout + install.stderr
    # Isolated from this interpreter's packages: the template's own test tools are absent.
    assert run([python, "-c", "import pytest"], project).returncode != 0
    # PYTHON empty: start.sh picks the project's own .venv, as it does for a user.
    server = launch(project, command, PYTHON="", WORKERS="2")
    server.wait_healthy(seconds=30)
    assert server.get(path)[0] == 200
    print(f"{case}: installed into a fresh virtualenv, {path} answered")
