"""The hooks' helpers, imported directly (their Jinja only renders under __main__)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

import local_extensions
from hooks import post_gen_project, pre_gen_project
from tests.conftest import DEFAULTS


def test_defaults_pass_every_validator() -> None:
    answers = {**DEFAULTS, "project_slug": "flask_service"}
    assert pre_gen_project.errors(answers) == []


def test_python_versions_are_listed_once_for_the_default_and_the_check() -> None:
    assert pre_gen_project.PYTHONS == local_extensions.SUPPORTED_PYTHONS


@pytest.mark.parametrize(
    ("running", "default"),
    [((3, 12), "3.12"), ((3, 11), "3.11"), ((3, 10), "3.14"), ((3, 15), "3.14")],
)
def test_python_version_defaults_to_the_running_python_when_supported(
    monkeypatch: pytest.MonkeyPatch, running: tuple[int, int], default: str
) -> None:
    monkeypatch.setattr(local_extensions.sys, "version_info", (*running, 0, "final", 0))
    assert local_extensions.running_python() == default


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


SLUG = "demo"


def make_project(root: Path) -> Path:
    """The launchers and every optional deployment path, as the template renders them."""
    root.mkdir(exist_ok=True)
    for name in (
        "start.sh",
        "gunicorn.conf.py",
        "service/gunicorn_hooks.py",
        "service/watchdog.py",
        "start.ps1",
        "start.bat",
        *post_gen_project.DATABASE_FILES,
    ):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("")
    for names in post_gen_project.OPTIONAL.values():
        for name in names:
            path = root / name.format(project_slug=SLUG)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("")
    return root


def answers_for(**changes: object) -> dict[str, object]:
    return {**DEFAULTS, "project_slug": SLUG, **changes}


@pytest.mark.parametrize(
    ("server", "kept"),
    [
        ("gunicorn", {"start.sh", "gunicorn.conf.py", "gunicorn_hooks.py", "watchdog.py"}),
        ("waitress", {"start.ps1", "start.bat"}),
        ("granian", {"start.sh", "start.ps1", "start.bat", "watchdog.py"}),
        (
            "both",
            {"start.sh", "gunicorn.conf.py", "gunicorn_hooks.py", "watchdog.py"}
            | {"start.ps1", "start.bat"},
        ),
    ],
)
def test_post_gen_keeps_only_the_chosen_launchers(tmp_path: Path, server: str, kept: set) -> None:
    project = make_project(tmp_path)
    assert post_gen_project.main(answers_for(server=server), project) == 0
    launchers = {"start.sh", "gunicorn.conf.py", "gunicorn_hooks.py", "start.ps1", "start.bat"}
    launchers.add("watchdog.py")
    assert {path.name for path in project.rglob("*")} & launchers == kept
    if "start.sh" in kept:
        assert (project / "start.sh").stat().st_mode & stat.S_IXUSR


def test_post_gen_writes_env_with_a_new_key_each_time(tmp_path: Path) -> None:
    keys = []
    for attempt in range(2):
        project = make_project(tmp_path / str(attempt))
        post_gen_project.write_env(project, answers_for())
        env = (project / ".env").read_text()
        # The key and nothing else: every other setting keeps its default in code.
        (line,) = [line for line in env.splitlines() if not line.startswith("#")]
        keys.append(line.removeprefix("SECRET_KEY="))
        assert stat.S_IMODE((project / ".env").stat().st_mode) == 0o600
    assert len(keys[0]) >= 48
    assert keys[0] != keys[1]


def test_post_gen_env_names_the_local_database_when_there_is_one(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    post_gen_project.write_env(project, answers_for(database="postgresql"))
    settings = [line for line in (project / ".env").read_text().splitlines() if "=" in line]
    assert [line.split("=")[0] for line in settings if not line.startswith("#")] == [
        "SECRET_KEY",
        "DATABASE_URL",
    ]
    assert f"DATABASE_URL=postgresql://postgres@localhost:5432/{SLUG}" in settings


@pytest.mark.parametrize("database", ["none", "postgresql"])
def test_post_gen_ships_the_database_code_only_with_a_database(
    tmp_path: Path, database: str
) -> None:
    project = make_project(tmp_path)
    assert post_gen_project.main(answers_for(database=database), project) == 0
    for name in post_gen_project.DATABASE_FILES:
        assert (project / name).exists() == (database == "postgresql"), name


@pytest.mark.parametrize("server", ["gunicorn", "granian", "both"])
def test_post_gen_keeps_the_systemd_unit_where_start_sh_ships(tmp_path: Path, server: str) -> None:
    project = make_project(tmp_path)
    assert post_gen_project.main(answers_for(server=server), project) == 0
    assert (project / "deploy" / f"{SLUG}.service").is_file()


def test_post_gen_skips_systemd_for_waitress_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project(tmp_path)
    assert post_gen_project.main(answers_for(server="waitress", include_systemd=True), project) == 0
    assert not (project / "deploy" / f"{SLUG}.service").exists()
    assert "include_systemd: skipped" in capsys.readouterr().out
    # The other extras do not need start.sh and stay.
    assert (project / "Dockerfile").is_file()
    assert (project / ".github").exists()


def test_post_gen_removes_every_unchosen_extra_and_the_empty_deploy_dir(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    off = {key: False for key in post_gen_project.OPTIONAL}
    assert post_gen_project.main(answers_for(**off), project) == 0
    for names in post_gen_project.OPTIONAL.values():
        for name in names:
            assert not (project / name.format(project_slug=SLUG)).exists(), name
    assert not (project / "deploy").exists()
