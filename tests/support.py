"""Helpers the template's tests share, beside conftest.py's fixtures.

`require_tool` is the one place that decides what a missing tool means: a skip that says
what to install on a laptop, a failure under CI, where every tool is installed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

TEMPLATE_DIR = Path(__file__).resolve().parent.parent
# The generated project's source: its files without template syntax load from here too.
PROJECT_SOURCE = TEMPLATE_DIR / "{{cookiecutter.project_slug}}"


def load_module(path: Path, name: str) -> ModuleType:
    """The Python file at `path` (a baked project's, or one of PROJECT_SOURCE's files that
    holds no template syntax) as module `name`: one copy, shipped and used here."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"no Python module at {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # a dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


def start_in_own_group(
    command: list[str], cwd: Path, env: dict[str, str], log: Path
) -> subprocess.Popen[bytes]:
    """Start `command` in a session (process group) of its own, its output in `log`:
    stop_group() then reaches every worker it forks, and a Ctrl-C in the terminal only
    the test run, whose clean-up stops it."""
    with log.open("wb") as output:
        return subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_group(process: subprocess.Popen[bytes], seconds: float) -> None:
    """TERM the process group, then KILL it if it has not exited within `seconds`."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


# Programs the tests copy into a baked project and run there (tests/programs/).
PROGRAMS = Path(__file__).resolve().parent / "programs"


def add_programs(project: Path, *names: str) -> None:
    """Copy the test programs `names` from tests/programs/ into `project`'s root."""
    for name in names:
        shutil.copyfile(PROGRAMS / name, project / name)


# A free port on 127.0.0.1, as the generated suite finds one.
free_port = load_module(PROJECT_SOURCE / "tests" / "ports.py", "generated_ports").free_port

# The values of CI that mean "not under CI" (any case); anything else, "1" or "true"
# included, is CI.
NOT_CI = ("", "0", "false", "no")


def in_ci() -> bool:
    """Whether CI is set to a truthy value, as CI services (and .ci/run) set it."""
    return os.environ.get("CI", "").lower() not in NOT_CI


def nested_pytest(basetemp: Path) -> list[str]:
    """pytest's options for a generated suite run inside this one: quiet, no cache written
    into the project, and a --basetemp of its own. Sessions that share
    /tmp/pytest-of-<user> prune each other's numbered directories when they exit; under
    xdist one removed a directory another session was still writing in, and failed."""
    return ["-q", "-p", "no:cacheprovider", f"--basetemp={basetemp}"]


def require_tool(available: bool, what: str, install_hint: str) -> None:
    """Go on when `available`; otherwise skip with one line naming what to install, or
    fail under CI, where a skipped test would pass without checking anything."""
    if available:
        return
    reason = f"{what} is not available here: {install_hint}"
    if in_ci():
        pytest.fail(f"{reason} (CI is set: this test must run, not skip)", pytrace=False)
    pytest.skip(reason)


# --- Slow clients

# A normal request beside slow clients may take this many times as long as the same
# request without them, measured in the same run, and never less than the floor: room for
# a busy machine, under what one held thread costs (a gthread thread waits 5 s for a
# connection's first bytes). A server that stops answering fails in any case: each
# request times out after 10 s.
SLOW_CLIENT_FACTOR = 5
SLOW_CLIENT_FLOOR_SECONDS = 3.0


def slow_client_bound(reference: float) -> float:
    """Seconds the slowest normal request may take beside slow clients, given the slowest
    the same requests took without them (`reference`)."""
    return max(SLOW_CLIENT_FLOOR_SECONDS, SLOW_CLIENT_FACTOR * reference)


# --- A service's output


def access_log(output: str) -> list[dict[str, Any]]:
    """The access lines in a service's output (LOG_FORMAT=json), in the order written:
    each has time, process, method, path, status and duration_ms."""
    records = []
    for line in output.splitlines():
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if record.get("logger") == "access":
                    records.append(record)
    return records
