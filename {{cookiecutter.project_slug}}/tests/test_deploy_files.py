"""The deployment files stay in step with the service: their health checks ask routes that
answer, and their stop timeouts outlast the time in-flight requests get to finish.

Each test skips when its file is not in the project (it was not generated, or was removed).
"""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from service import settings

PROJECT_DIR = Path(__file__).resolve().parent.parent
UNIT = PROJECT_DIR / "deploy" / "{{ cookiecutter.project_slug }}.service"
DOCKERFILE = PROJECT_DIR / "Dockerfile"
DEPLOYMENT = PROJECT_DIR / "deploy" / "k8s" / "deployment.yaml"


def needs(path: Path) -> pytest.MarkDecorator:
    return pytest.mark.skipif(not path.exists(), reason=f"no {path.relative_to(PROJECT_DIR)}")


def graceful_timeout() -> int:
    """Seconds Gunicorn gives in-flight requests on stop, as configured here (.env and the
    environment included); Waitress stops at once."""
    if "GRACEFUL_TIMEOUT" not in settings.DEFAULTS:
        return 0
    return settings.load_settings(serving=False).graceful_timeout  # type: ignore[attr-defined]


@needs(UNIT)
def test_systemd_waits_longer_than_the_graceful_timeout() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read_string(UNIT.read_text(encoding="utf-8"))
    stop = int(unit["Service"]["TimeoutStopSec"])
    assert stop > graceful_timeout(), (
        f"TimeoutStopSec={stop} kills requests GRACEFUL_TIMEOUT still lets finish: raise it"
    )


@needs(DOCKERFILE)
def test_docker_health_check_asks_a_route_that_answers(client: FlaskClient) -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    paths = re.findall(r"http://127\.0\.0\.1:%s(/[\w/]*)'", text)
    assert paths, "no HEALTHCHECK URL in the Dockerfile"
    for path in paths:
        assert client.get(path).status_code == 200, path


@needs(DOCKERFILE)
def test_docker_exposes_the_default_port() -> None:
    exposed = re.findall(r"^EXPOSE (\d+)$", DOCKERFILE.read_text(encoding="utf-8"), re.MULTILINE)
    assert exposed == [settings.DEFAULTS["PORT"]]


@needs(DEPLOYMENT)
{% if cookiecutter.database == 'postgresql' -%}
@pytest.mark.usefixtures("database_answers")
{% endif -%}
def test_kubernetes_probes_ask_routes_that_answer(client: FlaskClient) -> None:
    paths = re.findall(r"^\s+path: (\S+)$", DEPLOYMENT.read_text(encoding="utf-8"), re.MULTILINE)
    assert set(paths) == {"/healthz", "/readyz"}
    for path in paths:
        assert client.get(path).status_code == 200, path


@needs(DEPLOYMENT)
def test_kubernetes_waits_longer_than_the_pause_and_the_graceful_timeout() -> None:
    text = DEPLOYMENT.read_text(encoding="utf-8")
    grace = re.search(r"terminationGracePeriodSeconds: (\d+)", text)
    pause = re.search(r'command: \["sleep", "(\d+)"\]', text)
    assert grace and pause, "terminationGracePeriodSeconds or the preStop sleep is missing"
    assert int(grace.group(1)) > int(pause.group(1)) + graceful_timeout(), (
        "terminationGracePeriodSeconds must exceed the preStop pause plus GRACEFUL_TIMEOUT"
    )
