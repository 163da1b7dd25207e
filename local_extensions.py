"""Jinja extensions for cookiecutter.json (cookiecutter's "local extensions")."""

from __future__ import annotations

import sys

from jinja2 import Environment
from jinja2.ext import Extension

# The Python versions a baked project may deploy on; hooks/pre_gen_project.py checks it.
SUPPORTED_PYTHONS = ("3.11", "3.12", "3.13", "3.14")


def running_python() -> str:
    """The Python running cookiecutter, when a project may deploy on it, else the newest."""
    running = "{}.{}".format(*sys.version_info[:2])
    return running if running in SUPPORTED_PYTHONS else SUPPORTED_PYTHONS[-1]


class RunningPython(Extension):
    """`{{ running_python }}`: python_version's default, so that a project baked with the
    defaults installs and runs on the machine that baked it, uv and pip alike."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.globals["running_python"] = running_python()
