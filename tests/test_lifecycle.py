"""Projects live for years: they take template updates (cruft), bakes repeat (--replay,
--config-file), and the docs stay in step with what the template asks and generates."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import DEFAULTS, TEMPLATE_DIR, Launched, run, tool

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Template Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Template Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}
NOT_TEMPLATE = shutil.ignore_patterns(
    ".git", ".venv", "uv", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis", "output"
)


def git(cwd: Path, *args: str) -> None:
    result = run(["git", *args], cwd, timeout=60, **GIT_IDENTITY)
    assert result.returncode == 0, result.stderr


def cookiecutter(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "cookiecutter", *args], cwd, timeout=120)


@pytest.fixture
def template_repo(tmp_path: Path) -> Path:
    """This template, committed to a git repository of its own, as users clone it."""
    repo = tmp_path / "flask-prod"
    shutil.copytree(TEMPLATE_DIR, repo, ignore=NOT_TEMPLATE)
    git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--message", "template v1")
    return repo


def test_cruft_update_brings_a_template_change_into_a_baked_project(
    template_repo: Path, tmp_path: Path
) -> None:
    cruft = tool("cruft")
    created = run(
        [
            cruft,
            "create",
            str(template_repo),
            "--no-input",
            "--output-dir",
            str(tmp_path / "services"),
            "--skip",
            ".env",
        ],
        tmp_path,
        timeout=120,
    )
    assert created.returncode == 0, created.stderr
    project = tmp_path / "services" / "flask_service"
    git(project, "init", "--quiet")
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "--message", "baked")
    key = (project / ".env").read_text()
    assert run([cruft, "check"], project).returncode == 0

    api = template_repo / "{{cookiecutter.project_slug}}" / "service" / "api.py"
    api.write_text(api.read_text().replace("Hello, world!", "Hello from template v2!"))
    git(template_repo, "commit", "--quiet", "--all", "--message", "template v2")

    stale = run([cruft, "check"], project)
    assert stale.returncode != 0
    assert "out of date" in stale.stdout
    updated = run([cruft, "update", "--skip-apply-ask"], project, timeout=120)
    assert updated.returncode == 0, updated.stdout + updated.stderr
    assert "Hello from template v2!" in (project / "service" / "api.py").read_text()
    assert (project / ".env").read_text() == key, "the project's secret key was touched"
    assert not list(project.rglob("*.rej")), "the update left conflicts"
    assert run([cruft, "check"], project).returncode == 0


def test_config_file_gives_a_team_its_defaults(tmp_path: Path) -> None:
    config = TEMPLATE_DIR / "examples" / "team-defaults.yaml"
    baked = cookiecutter(tmp_path, str(TEMPLATE_DIR), "--no-input", "--config-file", str(config))
    assert baked.returncode == 0, baked.stderr
    project = tmp_path / "flask_service"
    assert 'authors = [{ name = "Platform Team" }]' in (project / "pyproject.toml").read_text()
    assert (
        '"CORS_ORIGINS": "https://app.example.com, https://admin.example.com"'
        in (project / "service" / "settings.py").read_text()
    )
    assert (project / "deploy" / "k8s").is_dir()
    assert (project / "service" / "metrics.py").is_file()


def test_replay_bakes_the_same_answers_again(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"replay_dir: {tmp_path / 'replay'}\n")
    first = cookiecutter(
        tmp_path,
        str(TEMPLATE_DIR),
        "--no-input",
        "--config-file",
        str(config),
        "-o",
        "first",
        "server=waitress",
        "port=9090",
        "project_name=Billing API",
    )
    assert first.returncode == 0, first.stderr
    again = cookiecutter(
        tmp_path, str(TEMPLATE_DIR), "--replay", "--config-file", str(config), "-o", "again"
    )
    assert again.returncode == 0, again.stderr
    original, replayed = tmp_path / "first" / "billing_api", tmp_path / "again" / "billing_api"
    assert (replayed / "wsgi.py").is_file() and not (replayed / "start.sh").exists()
    for name in ("pyproject.toml", ".env.example", "wsgi.py", "README.md"):
        assert (replayed / name).read_text() == (original / name).read_text()


def test_recorded_answers_bake_the_project_again_on_a_newer_template(
    template_repo: Path, tmp_path: Path
) -> None:
    """A project's .cookiecutter.json, given to --replay-file, bakes the same project
    on a newer template: the new template's changes, the project's own answers."""
    answers = ["server=waitress", "port=9090", "project_name=Billing API", "include_metrics=yes"]
    first = cookiecutter(tmp_path, str(template_repo), "--no-input", "-o", "first", *answers)
    assert first.returncode == 0, first.stderr
    project = tmp_path / "first" / "billing_api"
    recorded = json.loads((project / ".cookiecutter.json").read_text())["cookiecutter"]
    assert not [key for key in recorded if key.startswith("_")], "private keys recorded"

    api = template_repo / "{{cookiecutter.project_slug}}" / "service" / "api.py"
    api.write_text(api.read_text().replace("Hello, world!", "Hello from template v2!"))
    again = cookiecutter(
        tmp_path,
        str(template_repo),
        "--replay-file",
        str(project / ".cookiecutter.json"),
        "-o",
        "again",
    )
    assert again.returncode == 0, again.stderr
    rebaked = tmp_path / "again" / "billing_api"
    assert "Hello from template v2!" in (rebaked / "service" / "api.py").read_text()
    differing = [
        str(path.relative_to(project))
        for path in project.rglob("*")
        if path.is_file()
        and path.name != ".env"
        and path.read_bytes() != (rebaked / path.relative_to(project)).read_bytes()
    ]
    assert differing == ["service/api.py"]
    assert sorted(p.relative_to(rebaked) for p in rebaked.rglob("*")) == sorted(
        p.relative_to(project) for p in project.rglob("*")
    )


def test_template_version_is_in_the_changelog_and_every_bake(baked: Path) -> None:
    version = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text())["_template_version"]
    changelog = (TEMPLATE_DIR / "CHANGELOG.md").read_text()
    assert re.search(r"^## \[?(\d+\.\d+\.\d+)", changelog, re.MULTILINE).group(1) == version
    assert f"flask-prod {version}" in (baked / "pyproject.toml").read_text()


def readme_table_keys(heading: str) -> list[str]:
    """The first-column `names` of the table under `heading` in the root README."""
    readme = (TEMPLATE_DIR / "README.md").read_text()
    section = readme.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([A-Za-z_]+)` \|", section, re.MULTILINE)


def test_readme_documents_every_question_and_nothing_else() -> None:
    assert sorted(readme_table_keys("Questions")) == sorted(DEFAULTS)


def test_readme_lists_every_environment_variable_of_a_full_bake(tmp_path: Path) -> None:
    answers = ["server=both", "include_metrics=yes"]
    baked = cookiecutter(tmp_path, str(TEMPLATE_DIR), "--no-input", *answers)
    assert baked.returncode == 0, baked.stderr
    example = (tmp_path / "flask_service" / ".env.example").read_text()
    variables = re.findall(r"^#? ?([A-Z_]+)=", example, re.MULTILINE)
    assert sorted(readme_table_keys("Environment variables")) == sorted(variables)


def test_readme_quotes_the_latest_benchmark() -> None:
    """The README's table of measured numbers is the one in benchmarks/RESULTS.md."""
    results = (TEMPLATE_DIR / "benchmarks" / "RESULTS.md").read_text()
    readme = (TEMPLATE_DIR / "README.md").read_text()
    quoted = {
        "common advice: gunicorn -w 4 (sync)": "`gunicorn -w 4` (sync workers, the usual advice)",
        "common advice: waitress serve(app, threads=4)": "`waitress.serve(app, threads=4)`",
        "Flask dev server (threaded)": "Flask development server (threaded)",
        "reference: cookiecutter-flask's gunicorn -k gevent -w 4, plain Flask + flask-cors": (
            "cookiecutter-flask's production command, plain Flask + flask-cors (reference)"
        ),
        "generated gunicorn launcher, gthread": "this template, Gunicorn `gthread` (default)",
        "generated gunicorn launcher, gevent": "this template, Gunicorn `gevent`",
        "generated waitress entry (wsgi.serve)": "this template, Waitress entry",
        "generated granian launcher (wsgi.serve)": "this template, Granian launcher",
        "granian, its defaults": "Granian, its defaults",
        "granian hand-tuned: 5 workers x 32 threads, backlog and backpressure 2048": (
            "Granian hand-tuned: 5 workers x 32 threads, backlog and backpressure 2,048"
        ),
    }
    for measured, shown in quoted.items():
        row = re.search(rf"^\| {re.escape(measured)} \| (.+)$", results, re.MULTILINE)
        failed, rate = row.group(1).split(" | ")[:2]
        percent = re.search(r"\((\d+)%\)", failed).group(1)
        assert f"| {shown} | {percent}% | {rate} |" in readme, measured


def quick_start() -> list[str]:
    """The README's quick-start commands, each the line below its numbered comment."""
    readme = (TEMPLATE_DIR / "README.md").read_text()
    block = readme.split("## Quick start", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    lines = block.splitlines()
    return [lines[i + 1] for i, line in enumerate(lines) if re.match(r"# \d\. ", line)]


def test_quick_start_bakes_installs_and_starts_as_written(
    template_repo: Path, launch: Callable[..., Launched]
) -> None:
    """Command 1, run as the README writes it in a fresh clone: only what baking and
    running need, and the baked service answers /healthz."""
    bake_and_start = quick_start()[0]
    assert len(bake_and_start) < 220 and "cookiecutter" in bake_and_start
    clone = template_repo.parent / "clone" / "flask-prod"
    git(template_repo.parent, "clone", "--quiet", str(template_repo), str(clone))
    # PYTHON empty: the baked start.sh picks the .venv the command made.
    server = launch(clone, ["bash", "-c", bake_and_start], PYTHON="")
    server.wait_healthy(seconds=240)
    assert server.get("/healthz")[:3:2] == (200, b'{"status":"ok"}\n')
    installed = run(
        [str(clone.parent / "flask_service" / ".venv/bin/python"), "-m", "pip", "list"], clone
    )
    assert "pytest" not in installed.stdout.lower(), "the quick start installed test tools"


def test_ci_runs_the_readme_test_command() -> None:
    run_suite = quick_start()[1]
    ci = (TEMPLATE_DIR / ".ci" / "run").read_text().splitlines()
    assert ci[-1] == run_suite
    assert "--locked" in run_suite, "the suite must run with what uv.lock pins"
