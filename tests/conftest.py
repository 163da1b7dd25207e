"""Shared fixtures: the answer matrix, one bake per combination, and launchers that always stop."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
from cookiecutter.generate import generate_context
from cookiecutter.prompt import prompt_for_config

from tests.support import (
    FAULT_LAUNCHERS,
    TEMPLATE_DIR,
    Burst,
    Launched,
    add_programs,
    launch_process,
)


def default_answers() -> dict[str, object]:
    """The answers --no-input takes, as cookiecutter renders them on this machine."""
    context = generate_context(context_file=str(TEMPLATE_DIR / "cookiecutter.json"))
    answers = prompt_for_config(context, no_input=True)
    return {key: value for key, value in answers.items() if not key.startswith("_")}


DEFAULTS = default_answers()


class Row(NamedTuple):
    """One bake of the answer matrix: the answers that differ from the defaults, and
    whether tests/test_bake.py also runs the bake's own generated suite."""

    answers: dict[str, object]
    suite: bool


CREDENTIALS: dict[str, object] = {"cors_allow_credentials": True}
LOG_FILE: dict[str, object] = {"log_file": True}

# Every combination of the answers that change which files are generated or how the
# service behaves, then the other worker class, metrics and the database with each server
# (every pair of server, metrics and database values meets in some bake). Each is baked
# once per session and checked by every bake test.
#
# The generated suite runs on a pairwise subset of the first sixteen: each pair of values
# (server x credentials, server x log file, credentials x log file) still meets in some
# run of it. The default bake runs its suite in tests/test_install.py, in the environment
# uv made from its own files.
MATRIX = [
    Row({"server": "gunicorn"}, suite=False),  # in tests/test_install.py
    Row({"server": "gunicorn", **LOG_FILE}, suite=False),
    Row({"server": "gunicorn", **CREDENTIALS}, suite=False),
    Row({"server": "gunicorn", **CREDENTIALS, **LOG_FILE}, suite=True),
    Row({"server": "waitress"}, suite=True),
    Row({"server": "waitress", **LOG_FILE}, suite=False),
    Row({"server": "waitress", **CREDENTIALS}, suite=False),
    Row({"server": "waitress", **CREDENTIALS, **LOG_FILE}, suite=True),
    Row({"server": "granian"}, suite=False),
    Row({"server": "granian", **LOG_FILE}, suite=True),
    Row({"server": "granian", **CREDENTIALS}, suite=True),
    Row({"server": "granian", **CREDENTIALS, **LOG_FILE}, suite=False),
    Row({"server": "both"}, suite=False),
    Row({"server": "both", **LOG_FILE}, suite=True),
    Row({"server": "both", **CREDENTIALS}, suite=True),
    Row({"server": "both", **CREDENTIALS, **LOG_FILE}, suite=False),
    Row({"server": "gunicorn", "worker_class": "gevent"}, suite=True),
    Row({"server": "gunicorn", "include_metrics": True}, suite=True),
    Row({"server": "gunicorn", "worker_class": "gevent", "database": "postgresql"}, suite=True),
    Row({"server": "waitress", "include_metrics": True, "database": "postgresql"}, suite=True),
    Row({"server": "granian", "include_metrics": True, "database": "postgresql"}, suite=True),
    Row({"server": "both", "include_metrics": True, "database": "postgresql"}, suite=True),
]


def combination_id(answers: dict[str, object]) -> str:
    flags = [
        key.removeprefix("include_")
        for key in ("cors_allow_credentials", "log_file", "include_metrics")
        if answers.get(key)
    ]
    worker_class = [str(answers["worker_class"])] if "worker_class" in answers else []
    database = [str(answers["database"])] if "database" in answers else []
    return "-".join([str(answers["server"]), *worker_class, *flags, *database])


@pytest.fixture(scope="session", params=MATRIX, ids=lambda row: combination_id(row.answers))
def row(request: pytest.FixtureRequest) -> Row:
    return request.param


@pytest.fixture(scope="session")
def answers(row: Row) -> dict[str, object]:
    return row.answers


@pytest.fixture(scope="session")
def baked(cookies_session, answers: dict[str, object]) -> Path:
    """The project baked from `answers`, once per session."""
    result = cookies_session.bake(extra_context=answers)
    assert result.exception is None, result.exception
    assert result.exit_code == 0
    return Path(result.project_path)


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Callable[..., Launched]]:
    """Start a baked project's launcher on a free port; all are stopped at teardown."""
    started: list[Launched] = []

    def start(project: Path, command: list[str], **env: str) -> Launched:
        started.append(
            launch_process(project, command, tmp_path / f"launcher-{len(started)}.log", **env)
        )
        return started[-1]

    yield start
    for launched in started:
        launched.stop()


@pytest.fixture(scope="module")
def fault_projects(cookies_session) -> Callable[[str], Path]:
    """fault_projects(launcher): the project with `fault_app.py` that a launcher runs in,
    baked at first use, once per test module."""
    baked: dict[str, Path] = {}

    def project(launcher: str) -> Path:
        server = FAULT_LAUNCHERS[launcher][0]
        if server not in baked:
            result = cookies_session.bake(extra_context={"server": server})
            assert result.exit_code == 0, result.exception
            baked[server] = Path(result.project_path)
            add_programs(baked[server], "fault_app.py")
        return baked[server]

    return project


@pytest.fixture(scope="module")
def fault_project(fault_projects: Callable[[str], Path]) -> Path:
    """The fault-app project that ships Gunicorn and Waitress (server=both)."""
    return fault_projects("gunicorn")


@pytest.fixture
def launch_fault_app(
    launch: Callable[..., Launched], fault_projects: Callable[[str], Path]
) -> Callable[..., Launched]:
    """launch_fault_app(launcher, **env): the fault app under "gunicorn", "waitress" or
    "granian", in its project; stopped at teardown."""

    def start(launcher: str, **env: str) -> Launched:
        return launch(fault_projects(launcher), FAULT_LAUNCHERS[launcher][1], **env)

    return start


@pytest.fixture
def burst() -> Iterator[Callable[..., Burst]]:
    """Start the shipped load check in the background, so a fault can strike mid-burst.

    finish_burst() collects its summary; one a failing test left running is killed and
    reaped at teardown, instead of warning later from the garbage collector.
    """
    started: list[Burst] = []

    def start(project: Path, url: str, pages: int, parallel: int, timeout: float = 10) -> Burst:
        command = [sys.executable, "tools/loadcheck.py", url, "--json"]
        command += ["--pages", str(pages), "--parallel", str(parallel), "--timeout", str(timeout)]
        started.append(
            subprocess.Popen(
                command, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
        return started[-1]

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate()
