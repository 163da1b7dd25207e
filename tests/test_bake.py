"""Every combination of answers bakes a clean project whose own suite passes."""

from __future__ import annotations

import re
import stat
import sys
import tomllib
from collections.abc import Callable
from itertools import combinations, product
from pathlib import Path

import pytest

from tests.conftest import DEFAULTS, MATRIX, Row, combination_id
from tests.support import leftover_template_syntax, nested_pytest, run, text_files, tool

ALWAYS = {
    "app.py",
    "wsgi.py",
    "service/settings.py",
    "service/middleware.py",
    "pyproject.toml",
    ".python-version",
    "README.md",
    ".env",
    ".env.example",
    ".gitignore",
    "tools/loadcheck.py",
    "tests/test_launchers.py",
}
# The files each server choice adds; Granian's launchers are start.sh (Linux, macOS)
# and start.ps1 or start.bat (Windows), each running wsgi.py. Gunicorn and Granian
# replace a worker whose request hangs (service/watchdog.py).
LAUNCHER_FILES = {
    "gunicorn": {
        "start.sh",
        "gunicorn.conf.py",
        "service/gunicorn_hooks.py",
        "service/watchdog.py",
    },
    "waitress": {"start.ps1", "start.bat"},
    "granian": {"start.sh", "start.ps1", "start.bat", "service/watchdog.py"},
}


def chosen(server: object) -> list[str]:
    return ["gunicorn", "waitress"] if server == "both" else [str(server)]


def shipped(server: object) -> set[str]:
    """Every launcher file the server answer ships."""
    return set().union(*(LAUNCHER_FILES[name] for name in chosen(server)))


def test_no_template_syntax_is_left(baked: Path) -> None:
    leftovers = leftover_template_syntax(baked)
    assert not leftovers, "\n".join(leftovers)


def test_files_follow_the_server_choice(baked: Path, answers: dict[str, object]) -> None:
    present = {str(path.relative_to(baked).as_posix()) for path in text_files(baked)}
    assert present >= ALWAYS
    expected = shipped(answers["server"])
    launcher_files = set().union(*LAUNCHER_FILES.values())
    assert present & launcher_files == expected
    database = answers.get("database") == "postgresql"
    assert ("service/db.py" in present) is database
    assert ("tests/test_db.py" in present) is database
    assert any(name.startswith("migrations/versions/") for name in present) is database


def test_dependencies_follow_the_answers(baked: Path, answers: dict[str, object]) -> None:
    project = tomllib.loads((baked / "pyproject.toml").read_text())["project"]
    dependencies = " ".join(project["dependencies"])
    servers = chosen(answers["server"])
    gevent = answers.get("worker_class") == "gevent"
    gunicorn = "gunicorn[gevent]>=25.2" if gevent else "gunicorn>=25.2"
    assert (f"{gunicorn}; sys_platform != 'win32'" in dependencies) is ("gunicorn" in servers)
    assert ("waitress>=3.0.2" in dependencies) is ("waitress" in servers)
    assert ("granian>=2.8" in dependencies) is ("granian" in servers)
    assert ("gevent" in dependencies) is gevent
    assert ("prometheus-client>=" in dependencies) is bool(answers.get("include_metrics"))
    database = answers.get("database") == "postgresql"
    for package in ("flask-sqlalchemy>=", "flask-migrate>=", "psycopg[binary]>="):
        assert (package in dependencies) is database, package


def test_threads_default_follows_the_server(baked: Path, answers: dict[str, object]) -> None:
    # Granian's 64: its burst goodput rose from 32 threads to 64 (benchmarks/RESULTS.md).
    expected = "64" if answers["server"] == "granian" else "32"
    # .env.example shows each declared default (the baked suite checks it against them).
    assert f"\n# THREADS={expected}\n" in (baked / ".env.example").read_text()


def test_python_version_is_pinned_and_required(baked: Path, answers: dict[str, object]) -> None:
    version = str(answers.get("python_version", DEFAULTS["python_version"]))
    assert (baked / ".python-version").read_text() == f"{version}\n"
    pyproject = tomllib.loads((baked / "pyproject.toml").read_text())
    assert pyproject["project"]["requires-python"] == f">={version}"
    assert pyproject["tool"]["ruff"]["target-version"] == f"py{version.replace('.', '')}"


def test_env_holds_a_fresh_private_secret_key(baked: Path, answers: dict[str, object]) -> None:
    env = (baked / ".env").read_text()
    key = re.search(r"^SECRET_KEY=(\S{40,})$", env, re.MULTILINE)
    assert key, "no SECRET_KEY in .env"
    # Nothing else but the local database: a default later changed in service/settings.py
    # must reach the project.
    database = ["DATABASE_URL="] if answers.get("database") == "postgresql" else []
    assert re.findall(r"^[A-Z_]+=", env, re.MULTILINE) == ["SECRET_KEY=", *database]
    assert key.group(1) not in (baked / ".env.example").read_text()
    assert stat.S_IMODE((baked / ".env").stat().st_mode) == 0o600
    assert ".env" in (baked / ".gitignore").read_text().splitlines()


def test_readme_headings_each_start_a_paragraph(baked: Path) -> None:
    """Optional sections join cleanly: a Jinja tag that strips one newline too many glues a
    heading to the text before it, which Markdown then shows as plain text."""
    fenced = False
    previous = ""
    for number, line in enumerate((baked / "README.md").read_text().splitlines(), 1):
        if line.startswith("```"):
            fenced = not fenced
        if not fenced:
            assert not re.search(r"[^\s#]#{2,} ", line), f"README.md:{number}: {line}"
            if line.startswith("#") and number > 1:
                assert previous == "", f"README.md:{number}: no blank line before {line!r}"
        previous = line


def test_ruff_lint_is_clean(baked: Path) -> None:
    result = run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], baked)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean(baked: Path) -> None:
    result = run([sys.executable, "-m", "ruff", "format", "--check", "--no-cache", "."], baked)
    assert result.returncode == 0, result.stdout + result.stderr


def test_bandit_finds_nothing(baked: Path) -> None:
    # The tests use assert and start subprocesses by design; bandit judges the service.
    result = run([tool("bandit"), "-r", "-q", "-x", "./tests", "."], baked)
    assert result.returncode == 0, result.stdout + result.stderr


def test_pre_commit_config_is_valid_and_runs_what_ci_runs(baked: Path) -> None:
    config = baked / ".pre-commit-config.yaml"
    result = run([tool("pre-commit"), "validate-config", str(config)], baked)
    assert result.returncode == 0, result.stdout + result.stderr
    text = config.read_text()
    assert "id: ruff-check" in text and "id: ruff-format" in text
    # The pinned ruff must satisfy the dev group's floor, which CI installs.
    pinned = re.search(r"ruff-pre-commit\n\s+rev: v(\d+)\.(\d+)\.\d+", text)
    dev = tomllib.loads((baked / "pyproject.toml").read_text())["dependency-groups"]["dev"]
    floor = re.search(r"^ruff>=(\d+)\.(\d+)", "\n".join(dev), re.M)
    assert pinned and floor
    assert tuple(map(int, pinned.groups())) >= tuple(map(int, floor.groups()))


def test_shell_scripts_pass_shellcheck(baked: Path) -> None:
    scripts = [str(path) for path in baked.rglob("*.sh")]
    if not scripts:
        pytest.skip("this combination ships no shell script")
    result = run([tool("shellcheck"), *scripts], baked)
    assert result.returncode == 0, result.stdout + result.stderr


def test_start_sh_is_executable(baked: Path, answers: dict[str, object]) -> None:
    if "start.sh" not in shipped(answers["server"]):
        pytest.skip("this server choice ships no start.sh")
    assert (baked / "start.sh").stat().st_mode & stat.S_IXUSR


SERVERS = ("gunicorn", "waitress", "granian", "both")
PAIRWISE = ("cors_allow_credentials", "log_file")


def pairwise_values(row: Row) -> tuple[object, ...]:
    """(server, credentials, log file) of a row that sets no other answer."""
    return (row.answers["server"], *(bool(row.answers.get(key)) for key in PAIRWISE))


def test_matrix_bakes_every_combination_and_runs_the_suite_on_every_pair() -> None:
    ids = [combination_id(row.answers) for row in MATRIX]
    assert len(ids) == len(set(ids)), "two rows bake the same answers"
    plain = [row for row in MATRIX if set(row.answers) <= {"server", *PAIRWISE}]
    every = set(product(SERVERS, (False, True), (False, True)))
    assert {pairwise_values(row) for row in plain} == every
    # The default bake's suite runs in tests/test_install.py.
    suites = {pairwise_values(row) for row in plain if row.suite} | {("gunicorn", False, False)}
    for first, second in combinations(range(3), 2):
        pairs = {(values[first], values[second]) for values in suites}
        assert pairs == {(values[first], values[second]) for values in every}
    # The other rows each change what the suite tests.
    assert all(row.suite for row in MATRIX if row not in plain)


def test_generated_suite_passes(baked: Path, row: Row, tmp_path: Path) -> None:
    if not row.suite:
        pytest.skip("pairwise: the suite runs in another bake, or in test_install.py")
    # The template suite's interpreter already has every generated dependency.
    result = run([sys.executable, "-m", "pytest", *nested_pytest(tmp_path / "pytest")], baked)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert " passed" in result.stdout


# --- Nothing of what a bake left out
#
# A bake holds no name, code path or text of a server or feature it does not ship: a
# Gunicorn-only project never reads about Granian, a project without nginx never reads
# "nginx's map". Each term below is a case-insensitive pattern, with the answers that ship
# what it names. Plain words that every bake may use are not terms: "database" (a slow
# one), "systemd" or "Docker" (where logs go), "Kubernetes" (what a numeric user is for).


Answers = dict[str, object]


def servers(*names: str) -> Callable[[Answers], bool]:
    return lambda answers: answers["server"] in names


def answer(key: str) -> Callable[[Answers], bool]:
    return lambda answers: bool(answers[key])


ABSENT_UNLESS: dict[str, tuple[str, Callable[[Answers], bool]]] = {
    "gunicorn": (r"gunicorn|gthread|gevent|worker_connections", servers("gunicorn", "both")),
    "waitress": (r"waitress", servers("waitress", "both")),
    "granian": (r"granian", servers("granian")),
    # Windows: its launchers, and the code paths that run only there.
    "windows": (
        r"\bwindows\b|powershell|\.ps1\b|\.bat\b|sys\.platform\s*[!=]=\s*.win32",
        servers("waitress", "granian", "both"),
    ),
    "metrics": (r"prometheus|/metrics|metrics_allow_ips|metrics_dir", answer("include_metrics")),
    # The word alone: Kubernetes' autoscaler reads the cluster's metrics API.
    "metrics (word)": (
        r"\bmetrics\b",
        lambda answers: bool(answers["include_metrics"] or answers["include_kubernetes"]),
    ),
    # psycopg2 is not ours: the gevent caveat names it as a driver that needs patching.
    "database": (
        r"postgres|psycopg(?!2)|sqlalchemy|alembic|migrat|database_url|\bdb_|\bdb\.",
        lambda answers: answers["database"] == "postgresql",
    ),
    "nginx": (r"nginx", answer("include_nginx")),
    # `systemctl reload nginx` is nginx's own install step, not the unit's.
    "systemd": (
        r"systemctl(?! reload nginx)|journalctl|\w\.service\b|sd_notify",
        lambda answers: bool(answers["include_systemd"]) and answers["server"] != "waitress",
    ),
    "docker": (r"dockerfile|dockerignore|docker (build|run)|healthcheck", answer("include_docker")),
    "kubernetes": (r"kubectl|k8s|prestop", answer("include_kubernetes")),
    "github actions": (r"github actions|\.github\b|dependabot", answer("include_github_actions")),
}
# The answers file records every answer, shipped or not: it is how a project is baked again.
# .env holds a random key, which spells "k8s" or "waitress" now and then (CI, 2026-12-03).
NOT_SEARCHED = {".cookiecutter.json", ".env"}
# A bake may name the answer that would add what it lacks (README, "Deploy").
ANSWER_NAME = re.compile(r"\binclude_\w+")
# Named on purpose, (file, term): git reads .gitattributes in the template repository too,
# where start.bat and start.ps1 need their CRLF, so it cannot hold Jinja.
DELIBERATE = {(".gitattributes", "windows")}

# Leftovers in files other work on issue #21 is rewriting now, reported to it: (file, term)
# -> the bakes that hold it (None: every bake that leaves the term out). Strict: once a
# leftover is gone the test fails until its entry goes too, so none outlives its fix.
PENDING: dict[tuple[str, str], Callable[[Answers], bool] | None] = {
    # The generated tests: one deploy-files test file serves every bake, with checks of
    # every deployment file.
    ("tests/test_deploy_files.py", "gunicorn"): None,
    ("tests/test_deploy_files.py", "waitress"): None,
    ("tests/test_deploy_files.py", "systemd"): None,
    ("tests/test_deploy_files.py", "docker"): None,
    ("tests/test_deploy_files.py", "kubernetes"): None,
    ("tests/test_db.py", "gunicorn"): None,
    ("tests/postgres.py", "windows"): None,
}


def leftovers(project: Path, answers: Answers) -> dict[tuple[str, str], list[str]]:
    """Where `project` names what `answers` leave out: (file, term) -> its lines."""
    absent = {
        term: re.compile(pattern, re.IGNORECASE)
        for term, (pattern, ships) in ABSENT_UNLESS.items()
        if not ships(answers)
    }
    found: dict[tuple[str, str], list[str]] = {}
    for path in text_files(project):
        name = path.relative_to(project).as_posix()
        if name in NOT_SEARCHED:
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            text = ANSWER_NAME.sub("", line)
            for term, pattern in absent.items():
                if pattern.search(text):
                    found.setdefault((name, term), []).append(f"{name}:{number}: {line.strip()}")
    return found


def pending(project: Path, answers: Answers) -> set[tuple[str, str]]:
    """The PENDING leftovers this bake holds."""
    return {
        (name, term)
        for (name, term), where in PENDING.items()
        if (project / name).exists()
        and not ABSENT_UNLESS[term][1](answers)
        and (where is None or where(answers))
    }


def assert_names_nothing_left_out(project: Path, answers: Answers) -> None:
    answers = {**DEFAULTS, **answers}
    found = leftovers(project, answers)
    known = pending(project, answers)
    unexpected = [
        f"[{term}] {line}"
        for (name, term), lines in sorted(found.items())
        if (name, term) not in known | DELIBERATE
        for line in lines
    ]
    assert not unexpected, "named, though this bake leaves it out:\n" + "\n".join(unexpected)
    gone = sorted(known - set(found))
    assert not gone, f"no longer there, remove from PENDING: {gone}"


def test_bake_names_nothing_it_leaves_out(baked: Path, answers: Answers) -> None:
    assert_names_nothing_left_out(baked, answers)


# The matrix keeps the deployment extras at their defaults; these bakes turn each over.
EXTRAS_TURNED_OVER = {
    "include_nginx": False,
    "include_systemd": False,
    "include_docker": False,
    "include_github_actions": False,
    "include_kubernetes": True,
}


@pytest.mark.parametrize("server", ["gunicorn", "waitress", "granian", "both"])
def test_bake_with_other_extras_names_nothing_it_leaves_out(cookies_session, server: str) -> None:
    answers = {"server": server, **EXTRAS_TURNED_OVER}
    result = cookies_session.bake(extra_context=answers)
    assert result.exit_code == 0, result.exception
    assert_names_nothing_left_out(Path(result.project_path), answers)
