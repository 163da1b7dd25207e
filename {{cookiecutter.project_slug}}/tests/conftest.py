{%- set database = cookiecutter.database == "postgresql" -%}
"""Shared fixtures: an app built from a known environment, and real launchers on free ports."""

from __future__ import annotations

import os

import hypothesis
import pytest
from flask import Flask
from flask.testing import FlaskClient

# FLASK_DEBUG and friends from the developer's shell must not change what is tested.
for name in [name for name in os.environ if name.startswith("FLASK_")]:
    del os.environ[name]

from app import create_app  # noqa: E402  (the environment above must be set first)
{%- if database %}
from service import health  # noqa: E402
{%- endif %}

ALLOWED_ORIGIN = "http://allowed.example"
REFUSED_ORIGIN = "http://refused.example"
# Every test app sees exactly this environment: no .env, no shell variables, and
# none of the generated defaults that tests depend on.
TEST_ENVIRON = {
    "SECRET_KEY": "test-only-secret-key",
    "CORS_ORIGINS": ALLOWED_ORIGIN,
    "CORS_ALLOW_CREDENTIALS": "false",
    "LOG_FILE": "",
{%- if database %}
    # Nothing listens there: tests that need a database make their own (tests/test_db.py).
    "DATABASE_URL": "postgresql://test@127.0.0.1:9/test",
{%- endif %}
}


def in_ci() -> bool:
    """CI services set CI (GitHub: "true", others: "1", "yes", ...)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


# In CI, Hypothesis tries the same examples on every run (derived from each test), so a
# failure there fails again when the job is re-run, and locally with CI=1.
hypothesis.settings.register_profile("ci", derandomize=True)
if in_ci():
    hypothesis.settings.load_profile("ci")


def require(available: object, what: str, install_hint: str) -> None:
    """Call first in a test (or fixture) that needs a tool from outside the project: without
    it the test is skipped here with a line saying what to install, and fails under CI,
    where a skip would pass a run that tested nothing."""
    if available:
        return
    reason = f"needs {what}: {install_hint}"
    if in_ci():
        pytest.fail(f"{reason} (CI={os.environ['CI']}: in CI it must run, not skip)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def app() -> Flask:
    app = create_app({"TESTING": True}, environ=TEST_ENVIRON)

    @app.get("/test/boom")
    def boom() -> None:
        raise RuntimeError("a bug in a view")

    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
{%- if database %}


@pytest.fixture
def database_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """/readyz's database check passes, for tests of the rest of /readyz: tests/test_db.py
    checks it against a real database."""
    monkeypatch.setattr(health, "database_ready", lambda: True)
{%- endif %}
