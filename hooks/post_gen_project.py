"""Finish the generated project: drop what the answers exclude, set run bits, write .env.

Runs inside the new project folder. Nothing here touches the network.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import sys
from pathlib import Path

# Launchers of a server that was not chosen must not ship: nobody tests them there.
EXCLUDED_BY_SERVER = {
    "gunicorn": ["start.ps1", "start.bat"],
    "waitress": ["start.sh", "gunicorn.conf.py"],
    "both": [],
}
EXECUTABLES = ["start.sh"]


def remove_excluded(project: Path, server: str) -> None:
    for name in EXCLUDED_BY_SERVER[server]:
        (project / name).unlink()


def set_run_bits(project: Path) -> None:
    for name in EXECUTABLES:
        script = project / name
        if script.exists():
            script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def write_env(project: Path) -> None:
    """`.env` from `.env.example`, with a fresh secret key only this machine knows."""
    key = secrets.token_urlsafe(48)
    lines = (project / ".env.example").read_text(encoding="utf-8").splitlines()
    text = "\n".join(f"SECRET_KEY={key}" if line == "SECRET_KEY=" else line for line in lines)
    env = project / ".env"
    # Created readable by its owner only: it holds the key.
    descriptor = os.open(env, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")


def main(answers: dict[str, object], project: Path) -> int:
    remove_excluded(project, str(answers["server"]))
    set_run_bits(project)
    write_env(project)
    return 0


if __name__ == "__main__":
    answers = json.loads({{cookiecutter | jsonify | tojson}})  # noqa: F821
    sys.exit(main(answers, Path.cwd()))
