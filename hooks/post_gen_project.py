"""Finish the generated project: drop what the answers exclude, set run bits, write .env.

Runs inside the new project folder. Nothing here touches the network.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import stat
import sys
from pathlib import Path

# Launchers of a server that was not chosen must not ship: nobody tests them there.
GUNICORN_FILES = ["gunicorn.conf.py", "service/gunicorn_hooks.py"]
# What replaces a worker whose request hangs: Gunicorn and Granian run workers.
WORKER_FILES = ["service/watchdog.py"]
EXCLUDED_BY_SERVER = {
    "gunicorn": ["start.ps1", "start.bat"],
    "waitress": ["start.sh", *GUNICORN_FILES, *WORKER_FILES],
    "granian": GUNICORN_FILES,
    "both": [],
}
# Optional extras, each kept only when its prompt says yes ({project_slug} is filled in).
OPTIONAL = {
    "include_nginx": ["deploy/nginx.conf", "tests/test_nginx_conf.py"],
    "include_systemd": ["deploy/{project_slug}.service"],
    "include_docker": ["Dockerfile", ".dockerignore"],
    "include_kubernetes": ["deploy/k8s"],
    "include_github_actions": [".github"],
    "include_metrics": ["service/metrics.py", "tests/test_metrics.py"],
}
# The database's code, migrations and tests, kept only with database=postgresql.
DATABASE_FILES = [
    "service/db.py",
    "service/models.py",
    "service/notes.py",
    "migrations",
    "tests/postgres.py",
    "tests/test_db.py",
]
# Extras that run ./start.sh, which a Waitress-only (Windows) project does not have.
NEED_START_SH = {"include_systemd"}
EXECUTABLES = ["start.sh"]


def excluded(answers: dict[str, object]) -> list[str]:
    """Paths the answers leave out, relative to the project."""
    server = str(answers["server"])
    paths = list(EXCLUDED_BY_SERVER[server])
    for key, names in OPTIONAL.items():
        keep = bool(answers[key])
        if keep and key in NEED_START_SH and server == "waitress":
            print(f"{key}: skipped: it runs ./start.sh, which server=waitress does not ship")
            keep = False
        if not keep:
            paths += [name.format(**answers) for name in names]
    if answers["database"] == "none":
        paths += DATABASE_FILES
    return paths


def remove(project: Path, paths: list[str]) -> None:
    for path in (project / name for name in paths):
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    deploy = project / "deploy"
    if deploy.is_dir() and not any(deploy.iterdir()):
        deploy.rmdir()


def set_run_bits(project: Path) -> None:
    for name in EXECUTABLES:
        script = project / name
        if script.exists():
            script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def write_env(project: Path, answers: dict[str, object]) -> None:
    """`.env` with what only this project has: a fresh secret key only this machine knows,
    and with a database, where the local one is.

    Every other setting keeps its default in service/settings.py, so a default changed
    there later still reaches the project."""
    key = secrets.token_urlsafe(48)
    text = (
        "# This project's own settings; .env.example lists every other one with its default.\n"
        "# Never commit this file: it holds the key that signs sessions.\n"
        f"SECRET_KEY={key}\n"
    )
    if answers["database"] == "postgresql":
        text += (
            "# A PostgreSQL on this machine (README, Database); production sets its own.\n"
            f"DATABASE_URL=postgresql://postgres@localhost:5432/{answers['project_slug']}\n"
        )
    env = project / ".env"
    # Created readable by its owner only: it holds the key.
    descriptor = os.open(env, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)


def main(answers: dict[str, object], project: Path) -> int:
    remove(project, excluded(answers))
    set_run_bits(project)
    write_env(project, answers)
    return 0


if __name__ == "__main__":
    answers = json.loads({{cookiecutter | jsonify | tojson}})  # noqa: F821
    sys.exit(main(answers, Path.cwd()))
