"""Helpers the template's tests share, beside conftest.py's fixtures.

`require_tool` is the one place that decides what a missing tool means: a skip that says
what to install on a laptop, a failure under CI, where every tool is installed.
"""

from __future__ import annotations

import os

import pytest

# The values of CI that mean "not under CI" (any case); anything else, "1" or "true"
# included, is CI.
NOT_CI = ("", "0", "false", "no")


def in_ci() -> bool:
    """Whether CI is set to a truthy value, as CI services (and .ci/run) set it."""
    return os.environ.get("CI", "").lower() not in NOT_CI


def require_tool(available: bool, what: str, install_hint: str) -> None:
    """Go on when `available`; otherwise skip with one line naming what to install, or
    fail under CI, where a skipped test would pass without checking anything."""
    if available:
        return
    reason = f"{what} is not available here: {install_hint}"
    if in_ci():
        pytest.fail(f"{reason} (CI is set: this test must run, not skip)", pytrace=False)
    pytest.skip(reason)
