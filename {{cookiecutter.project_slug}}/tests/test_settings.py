{%- set gunicorn = cookiecutter.server in ("gunicorn", "both") -%}
import re
import subprocess
import sys

import pytest

from service.settings import DEFAULTS, PROJECT_DIR, REQUIRED, SettingsError, load_settings

# What the service cannot start without.
KEY = {
    "SECRET_KEY": "test-only-secret-key",
{%- if cookiecutter.database == "postgresql" %}
    "DATABASE_URL": "postgresql://app@db.internal:5432/app",
{%- endif %}
}


def test_defaults_are_valid() -> None:
    settings = load_settings(KEY)
    assert 1 <= settings.port <= 65535
    assert settings.threads >= 1
    assert settings.cors_origins


def test_environment_overrides_defaults() -> None:
    settings = load_settings({**KEY, "PORT": "9001", "THREADS": "3", "LOG_LEVEL": "debug"})
    assert (settings.port, settings.threads, settings.log_level) == (9001, 3, "DEBUG")
{%- if gunicorn %}


def test_auto_workers_is_two_per_cpu_plus_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("service.settings.cpu_count", lambda: 4)
    assert load_settings({**KEY, "WORKERS": "auto"}).workers == 9
{%- endif %}


def test_origins_are_a_comma_separated_list() -> None:
    settings = load_settings({**KEY, "CORS_ORIGINS": "https://a.example, http://b.example:8443"})
    assert settings.cors_origins == ("https://a.example", "http://b.example:8443")


def test_extra_cors_headers_are_a_comma_separated_list() -> None:
    settings = load_settings({**KEY, "CORS_ALLOW_HEADERS": "X-Client-Version, baggage"})
    assert settings.cors_allow_headers == ("X-Client-Version", "baggage")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "0"),
        ("PORT", "70000"),
        ("PORT", "http"),
{%- if gunicorn %}
        ("WORKERS", "0"),
        ("WORKERS", "-1"),
        ("WORKERS", "many"),
        ("WORKER_CLASS", "sync"),
        ("TIMEOUT", "0"),
{%- endif %}
        ("THREADS", "0"),
        ("CORS_MAX_AGE", "-5"),
        ("MAX_CONTENT_LENGTH", "1MB"),
        ("CORS_ORIGINS", "example.com"),
        ("CORS_ORIGINS", "https://example.com/path"),
        ("CORS_ORIGINS", ""),
        ("CORS_ALLOW_CREDENTIALS", "maybe"),
        ("CORS_ALLOW_HEADERS", "X-Ok, not a header"),
        ("LOG_LEVEL", "LOUD"),
        ("LOG_FORMAT", "xml"),
        ("HOST", ""),
        ("FORWARDED_ALLOW_IPS", "proxy.example"),
        ("SECRET_KEY", ""),
    ],
)
def test_invalid_value_is_refused_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings({**KEY, name: value})
    message = str(refused.value)
    assert message.startswith(name)
    assert "\n" not in message


def test_missing_secret_key_is_refused() -> None:
    with pytest.raises(SettingsError, match=r"^SECRET_KEY is not set"):
        load_settings({})


def test_star_with_credentials_is_refused() -> None:
    with pytest.raises(SettingsError, match="CORS_ORIGINS: '\\*' cannot be combined"):
        load_settings({**KEY, "CORS_ORIGINS": "*", "CORS_ALLOW_CREDENTIALS": "true"})


def test_docs_are_written_from_the_declarations() -> None:
    """.env.example and the README's table say what service/settings.py declares: each
    setting's name, default and meaning, and nothing else."""
    check = subprocess.run(
        [sys.executable, "tools/settings_docs.py", "--check"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_env_example_lists_every_setting_with_its_default() -> None:
    example = (PROJECT_DIR / ".env.example").read_text(encoding="utf-8")
    names = set(re.findall(r"^#? ?([A-Z_]+)=", example, re.MULTILINE))
    assert names == {*REQUIRED, *DEFAULTS}
    for name, default in DEFAULTS.items():
        assert f"\n# {name}={default}\n" in example
