"""Every dependency set a bake can have installs from the baked project's own files, in a
fresh clone of it, and its launcher starts there as the project's README says: with uv
(`uv sync`) and with plain pip and venv (`pip install -e . --group dev`).

The rest of the suite runs baked projects with this interpreter, which has every package
any bake could need: a dependency missing from a bake's own files shows only here. The
bakes target this machine's Python (the default), which uv finds without a download.
"""

from __future__ import annotations

import venv
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import Launched, nested_pytest, run, tool

START_SH, WAITRESS = ["./start.sh"], [".venv/bin/python", "wsgi.py"]
# (answers, installer, launcher as the README starts it, a path that must answer 200)
CASES = {
    "gunicorn-gthread-uv": ({"server": "gunicorn"}, "uv", START_SH, "/healthz"),
    # Each server's own set: a database's packages could hide one missing from it (as
    # gevent's `packaging` was, #13).
    "gunicorn-gevent": (
        {"server": "gunicorn", "worker_class": "gevent"},
        "pip",
        START_SH,
        "/healthz",
    ),
    "waitress": ({"server": "waitress"}, "uv", WAITRESS, "/healthz"),
    "both": ({"server": "both"}, "pip", WAITRESS, "/healthz"),
    "metrics": ({"server": "gunicorn", "include_metrics": True}, "uv", START_SH, "/metrics"),
    "granian-uv": ({"server": "granian"}, "uv", START_SH, "/healthz"),
    # With the database: the server's set plus SQLAlchemy, psycopg and Flask-Migrate, the
    # same packages for every server, once with each installer.
    "postgresql-uv": ({"server": "gunicorn", "database": "postgresql"}, "uv", START_SH, "/healthz"),
    "granian-metrics-postgresql-pip": (
        {"server": "granian", "include_metrics": True, "database": "postgresql"},
        "pip",
        START_SH,
        "/metrics",
    ),
}
# The default bake, and the default with the database, also run their own suite in the
# environment uv made (the database's against a throwaway PostgreSQL); the other bakes
# run theirs in tests/test_bake.py.
SUITE = {"gunicorn-gthread-uv", "postgresql-uv"}


def fresh_clone(project: Path, into: Path) -> Path:
    """The bake as committed to git and cloned: only what the project tracks."""
    git = tool("git")
    identity = ["-c", "user.name=test", "-c", "user.email=test@example.com"]
    for command in (["init", "-q"], ["add", "-A"], [*identity, "commit", "-qm", "Bake"]):
        done = run([git, *command], project)
        assert done.returncode == 0, done.stderr
    cloned = run([git, "clone", "-q", str(project), str(into)], project)
    assert cloned.returncode == 0, cloned.stderr
    return into


def install(clone: Path, installer: str) -> None:
    if installer == "uv":
        synced = run([tool("uv"), "sync", "--quiet"], clone)
        assert synced.returncode == 0, synced.stdout + synced.stderr
        assert (clone / "uv.lock").is_file(), "uv sync wrote no uv.lock"
        return
    venv.create(clone / ".venv", with_pip=True)
    pip = [str(clone / ".venv" / "bin" / "python"), "-m", "pip", "install", "-q"]
    for step in (["--upgrade", "pip"], ["-e", ".", "--group", "dev"]):
        installed = run([*pip, *step], clone)
        assert installed.returncode == 0, installed.stdout + installed.stderr


@pytest.mark.parametrize("case", CASES)
def test_bake_installs_from_its_own_files_and_starts(
    cookies, launch: Callable[..., Launched], tmp_path: Path, case: str
) -> None:
    answers, installer, command, path = CASES[case]
    result = cookies.bake(extra_context=answers)
    assert result.exit_code == 0, result.exception
    clone = fresh_clone(Path(result.project_path), tmp_path / "clone")

    install(clone, installer)
    python = str(clone / ".venv" / "bin" / "python")
    # Isolated from this interpreter's packages: the template's own tools are absent.
    assert run([python, "-c", "import cookiecutter"], clone).returncode != 0
    # PYTHON empty: start.sh picks the project's own .venv, as it does for a user. A clone
    # has no .env (it is git-ignored): the key comes from the environment.
    key = "install-test-key"
    # A database bake starts without its database; nothing connects before a request needs it.
    database = {"DATABASE_URL": "postgresql://app@127.0.0.1:9/app"} if "database" in answers else {}
    server = launch(clone, command, PYTHON="", WORKERS="2", SECRET_KEY=key, **database)
    server.wait_healthy(seconds=30)
    assert server.get(path)[0] == 200
    if case in SUITE:
        runner = [tool("uv"), "run", "pytest"] if installer == "uv" else [python, "-m", "pytest"]
        suite = run([*runner, *nested_pytest(tmp_path / "pytest")], clone)
        assert suite.returncode == 0, suite.stdout[-3000:] + suite.stderr[-2000:]
    print(f"{case}: installed with {installer} from a fresh clone, {path} answered")
