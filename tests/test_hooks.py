"""The hooks' helpers, imported directly (their Jinja only renders under __main__)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from hooks import post_gen_project, pre_gen_project
from tests.conftest import DEFAULTS


def test_defaults_pass_every_validator() -> None:
    answers = {**DEFAULTS, "project_slug": "flask_service"}
    assert pre_gen_project.errors(answers) == []


@pytest.mark.parametrize(
    "value",
    ["0.0.0.0", "::", "127.0.0.1", "::1", "localhost", "api.internal.example"],  # noqa: S104
)
def test_host_accepts_addresses_and_names(value: str) -> None:
    assert pre_gen_project.validate_host(value) is None


@pytest.mark.parametrize(
    "value",
    [
        "*",
        "http://localhost:5173",
        "https://app.example.com, https://admin.example.com:8443",
        "http://[::1]:3000",
    ],
)
def test_cors_origins_accepts_origin_lists_and_star(value: str) -> None:
    assert pre_gen_project.validate_cors_origins(value) is None


def test_every_refusal_is_reported_at_once() -> None:
    answers = {**DEFAULTS, "project_slug": "ok", "port": "0", "threads": "0"}
    lines = pre_gen_project.errors(answers)
    assert [line.split(":")[0] for line in lines] == ["port", "threads"]


def make_project(root: Path) -> Path:
    root.mkdir(exist_ok=True)
    for name in ("start.sh", "gunicorn.conf.py", "start.ps1", "start.bat"):
        (root / name).write_text("")
    (root / ".env.example").write_text("# key\nSECRET_KEY=\nPORT=8080\n")
    return root


@pytest.mark.parametrize(
    ("server", "kept"),
    [
        ("gunicorn", {"start.sh", "gunicorn.conf.py"}),
        ("waitress", {"start.ps1", "start.bat"}),
        ("both", {"start.sh", "gunicorn.conf.py", "start.ps1", "start.bat"}),
    ],
)
def test_post_gen_keeps_only_the_chosen_launchers(tmp_path: Path, server: str, kept: set) -> None:
    project = make_project(tmp_path)
    assert post_gen_project.main({"server": server}, project) == 0
    launchers = {"start.sh", "gunicorn.conf.py", "start.ps1", "start.bat"}
    assert {path.name for path in project.iterdir()} & launchers == kept
    if "start.sh" in kept:
        assert (project / "start.sh").stat().st_mode & stat.S_IXUSR


def test_post_gen_writes_env_with_a_new_key_each_time(tmp_path: Path) -> None:
    keys = []
    for attempt in range(2):
        project = make_project(tmp_path / str(attempt))
        post_gen_project.write_env(project)
        env = (project / ".env").read_text().splitlines()
        assert env[0] == "# key" and env[2] == "PORT=8080"
        keys.append(env[1].removeprefix("SECRET_KEY="))
    assert len(keys[0]) >= 48
    assert keys[0] != keys[1]
