"""The template's own code holds the bar it sets for baked projects."""

from __future__ import annotations

import sys

import pytest

from tests.support import TEMPLATE_DIR, run, tool

# Everything of the template's that is Python; the Jinja source of the generated
# project is linted after baking, by test_bake.py.
PYTHON_CODE = ["hooks", "tests", "benchmarks", "local_extensions.py"]
# The README's quick-start commands and their helper, in bash.
SCRIPTS = TEMPLATE_DIR / "scripts"


@pytest.mark.parametrize(
    "command",
    [["check"], ["format", "--check"]],
    ids=["lint", "format"],
)
def test_python_code_is_ruff_clean(command: list[str]) -> None:
    """It passes the same ruff checks a baked project passes, with pyproject.toml's rules."""
    result = run([sys.executable, "-m", "ruff", *command, "--no-cache", *PYTHON_CODE], TEMPLATE_DIR)
    assert result.returncode == 0, result.stdout + result.stderr


def test_shell_scripts_pass_shellcheck() -> None:
    """CI's entry point and the README's commands (scripts/; the .py ones are Python)."""
    scripts = sorted(
        str(path.relative_to(TEMPLATE_DIR)) for path in SCRIPTS.iterdir() if path.suffix != ".py"
    )
    assert "scripts/test" in scripts
    result = run([tool("shellcheck"), ".ci/run", *scripts], TEMPLATE_DIR)
    assert result.returncode == 0, result.stdout
