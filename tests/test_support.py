"""tests/support.py: a missing tool is a skip on a laptop and a failure under CI."""

from __future__ import annotations

import pytest

from tests.support import require_tool

NOT_CI = [None, "", "0", "false", "False", "NO"]
CI = ["true", "TRUE", "1", "yes", "anything"]
# What require_tool may raise: caught here, so that a wrong skip fails this test instead
# of skipping it.
OUTCOMES = (pytest.skip.Exception, pytest.fail.Exception)


def outcome(
    monkeypatch: pytest.MonkeyPatch, ci: str | None, available: bool
) -> BaseException | None:
    """What require_tool raises for nginx with CI set to `ci` (None: unset)."""
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    try:
        require_tool(available, "nginx", "apt-get install nginx-light")
    except OUTCOMES as raised:
        return raised
    return None


@pytest.mark.parametrize("ci", NOT_CI, ids=repr)
def test_a_missing_tool_is_a_skip_saying_what_to_install_outside_ci(
    monkeypatch: pytest.MonkeyPatch, ci: str | None
) -> None:
    raised = outcome(monkeypatch, ci, available=False)
    assert isinstance(raised, pytest.skip.Exception), repr(raised)
    assert str(raised) == "nginx is not available here: apt-get install nginx-light"


@pytest.mark.parametrize("ci", CI)
def test_a_missing_tool_fails_under_ci(monkeypatch: pytest.MonkeyPatch, ci: str) -> None:
    raised = outcome(monkeypatch, ci, available=False)
    assert isinstance(raised, pytest.fail.Exception), repr(raised)
    assert str(raised).startswith("nginx is not available here: apt-get install nginx-light")
    assert "CI is set" in str(raised)


@pytest.mark.parametrize("ci", [None, "true"], ids=repr)
def test_an_available_tool_goes_on_with_or_without_ci(
    monkeypatch: pytest.MonkeyPatch, ci: str | None
) -> None:
    assert outcome(monkeypatch, ci, available=True) is None
