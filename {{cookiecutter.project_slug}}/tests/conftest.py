"""Shared fixtures: an app built from a known environment, and real launchers on free ports."""

from __future__ import annotations

import os

import pytest
from flask import Flask
from flask.testing import FlaskClient

# FLASK_DEBUG and friends from the developer's shell must not change what is tested.
for name in [name for name in os.environ if name.startswith("FLASK_")]:
    del os.environ[name]
# app.py builds `app` when imported; without a .env (as in CI) it needs a key to do so.
os.environ.setdefault("SECRET_KEY", "test-only-secret-key")

from app import create_app  # noqa: E402  (the environment above must be set first)

ALLOWED_ORIGIN = "http://allowed.example"
REFUSED_ORIGIN = "http://refused.example"
# Every test app sees exactly this environment: no .env, no shell variables, and
# none of the generated defaults that tests depend on.
TEST_ENVIRON = {
    "SECRET_KEY": "test-only-secret-key",
    "CORS_ORIGINS": ALLOWED_ORIGIN,
    "CORS_ALLOW_CREDENTIALS": "false",
    "LOG_FILE": "",
}


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
