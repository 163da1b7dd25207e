"""Bad answers stop the bake with one line naming the prompt, and leave no folder behind."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from cookiecutter.exceptions import FailedHookException

from tests.support import TEMPLATE_DIR, run

# (answers, the prompt the error must name, a fragment of the reason)
INVALID = [
    ({"project_slug": "My-Service"}, "project_slug", "lower-case letter"),
    ({"project_slug": "1service"}, "project_slug", "lower-case letter"),
    ({"python_version": "3.10"}, "python_version", "3.11, 3.12, 3.13 or 3.14"),
    ({"python_version": "3"}, "python_version", "3.11, 3.12, 3.13 or 3.14"),
    ({"port": "0"}, "port", "1 to 65535"),
    ({"port": "70000"}, "port", "1 to 65535"),
    ({"port": "http"}, "port", "1 to 65535"),
    ({"workers": "0"}, "workers", "'auto'"),
    ({"workers": "-1"}, "workers", "'auto'"),
    ({"workers": "many"}, "workers", "'auto'"),
    ({"threads": "0"}, "threads", "at least 1"),
    ({"threads": "lots"}, "threads", "at least 1"),
    ({"host": "not a host"}, "host", "IP address"),
    ({"cors_origins": "localhost:5173"}, "cors_origins", "comma-separated origins"),
    ({"cors_origins": "https://app.example.com/"}, "cors_origins", "no path"),
    ({"cors_origins": "https://a.example,ftp://b.example"}, "cors_origins", "origins like"),
    ({"cors_origins": "*", "cors_allow_credentials": True}, "cors_allow_credentials", "'*'"),
]
IDS = [f"{prompt}={next(iter(answers.values()))!r}" for answers, prompt, _ in INVALID]


@pytest.mark.parametrize(("answers", "prompt", "reason"), INVALID, ids=IDS)
def test_hook_refuses_invalid_answer(
    cookies,
    capfd: pytest.CaptureFixture[str],
    tmp_path: Path,
    answers: dict,
    prompt: str,
    reason: str,
) -> None:
    result = cookies.bake(extra_context=answers)
    assert result.exit_code == -1
    assert isinstance(result.exception, FailedHookException)
    assert result.project_path is None
    # The hook runs as a child process writing to this process's stderr: one line that
    # names the prompt and why, for this answer and no other.
    errors = capfd.readouterr().err.strip().splitlines()
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"{prompt}: "), errors[0]
    assert reason in errors[0]
    assert "(got " in errors[0]
    # pytest-cookies bakes into tmp_path/cookies/bake00; cookiecutter must have emptied it.
    assert list((tmp_path / "cookies" / "bake00").iterdir()) == [], "a half-baked folder was left"


@pytest.mark.parametrize(("answers", "prompt", "reason"), INVALID, ids=IDS)
def test_cli_prints_one_line_naming_the_prompt(
    tmp_path: Path, answers: dict, prompt: str, reason: str
) -> None:
    pairs = [f"{key}={'yes' if value is True else value}" for key, value in answers.items()]
    result = run(
        [sys.executable, "-m", "cookiecutter", str(TEMPLATE_DIR), "--no-input", "-o", ".", *pairs],
        tmp_path,
        timeout=60,
    )
    assert result.returncode != 0
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith(f"{prompt}: ")
    assert reason in errors[0]
    assert "(got " in errors[0]
    assert list(tmp_path.iterdir()) == [], "a half-baked folder was left"


@pytest.mark.parametrize(
    ("prompt", "value"),
    [("server", "apache"), ("worker_class", "eventlet"), ("database", "mysql")],
)
def test_unknown_choice_is_refused_before_anything_is_written(
    tmp_path: Path, prompt: str, value: str
) -> None:
    """Cookiecutter itself refuses a value outside a choice list, before our hook runs (its
    report ends in a traceback we cannot shorten); the last line names the prompt."""
    result = run(
        [
            sys.executable,
            "-m",
            "cookiecutter",
            str(TEMPLATE_DIR),
            "--no-input",
            f"{prompt}={value}",
        ],
        tmp_path,
        timeout=60,
    )
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert f"{value} provided for choice variable {prompt}" in last
    assert list(tmp_path.iterdir()) == [], "a half-baked folder was left"
