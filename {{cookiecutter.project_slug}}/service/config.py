{%- set gunicorn = cookiecutter.server in ("gunicorn", "both") -%}
"""Service settings, read once from the environment (and `.env`) and validated.

Every setting is an environment variable, so the same code runs on a laptop, in a
container and under a process manager. A bad value stops the start with one line
naming the variable: a typo must never leave a half-configured server running.
"""

from __future__ import annotations

import ipaddress
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values

PROJECT_DIR = Path(__file__).resolve().parent.parent
ENV_FILE = PROJECT_DIR / ".env"

# The answers given when the project was generated; any environment variable wins.
DEFAULTS = {
    # Listening on every interface is a server's job; HOST narrows it.
    "HOST": "{{ cookiecutter.host }}",  # nosec B104
    "PORT": "{{ cookiecutter.port }}",
    "WORKERS": "{{ cookiecutter.workers }}",
    "THREADS": "{{ cookiecutter.threads }}",
    "CORS_ORIGINS": "{{ cookiecutter.cors_origins }}",
    "CORS_ALLOW_CREDENTIALS": "{{ cookiecutter.cors_allow_credentials | lower }}",
    # Browsers cache a preflight this many seconds (Chromium caps it at 7200).
    "CORS_MAX_AGE": "600",
    "LOG_LEVEL": "INFO",
    # json (for log collectors) or text (for people); empty: text on a terminal, else json.
    "LOG_FORMAT": "",
    "LOG_FILE": "{{ 'app.log' if cookiecutter.log_file else '' }}",
    # 1 MiB: enough for JSON APIs; larger bodies get a 413 before a view reads them.
    "MAX_CONTENT_LENGTH": "1048576",
    # Proxies whose X-Forwarded-* headers are believed (comma-separated IPs, or *).
    "FORWARDED_ALLOW_IPS": "127.0.0.1",
}
{%- if cookiecutter.include_metrics %}
# /metrics only (service/metrics.py): who may scrape it, as comma-separated IPs;
# empty lets anyone (then keep it off the public internet another way).
METRICS_DEFAULTS = {"METRICS_ALLOW_IPS": ""}
{%- endif %}
{%- if gunicorn %}
# Gunicorn only: gunicorn.conf.py reads these, with the same rules.
GUNICORN_DEFAULTS = {
    "WORKER_CLASS": "{{ cookiecutter.worker_class }}",
    "WORKER_CONNECTIONS": "1000",
    "TIMEOUT": "30",
    "GRACEFUL_TIMEOUT": "30",
    "KEEPALIVE": "5",
    "MAX_REQUESTS": "0",
}
{%- endif %}

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("json", "text")
ORIGIN = re.compile(r"https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?")
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


class SettingsError(ValueError):
    """A setting has a value the service cannot start with."""


@dataclass(frozen=True)
class Settings:
    host: str
    port: int
    workers: int
    threads: int
    cors_origins: tuple[str, ...]
    cors_allow_credentials: bool
    cors_max_age: int
    secret_key: str
    log_level: str
    log_format: str
    log_file: Path | None
    max_content_length: int
    forwarded_allow_ips: tuple[str, ...]


def read_environment(
    defaults: Mapping[str, str], environ: Mapping[str, str | None] | None = None
) -> dict[str, str]:
    """`defaults`, overlaid by `.env`, overlaid by the real environment (or `environ`)."""
    if environ is None:
        environ = {**dotenv_values(ENV_FILE), **os.environ}
    return {**defaults, **{name: value for name, value in environ.items() if value is not None}}


def load_settings(environ: Mapping[str, str | None] | None = None) -> Settings:
    """Validate the settings in `environ` (default: `.env` overlaid by the real environment)."""
    env = read_environment(DEFAULTS, environ)

    origins = _origins(env["CORS_ORIGINS"])
    credentials = _boolean(env, "CORS_ALLOW_CREDENTIALS")
    if credentials and "*" in origins:
        # Browsers reject this pair anyway; refusing it here names the real problem.
        raise SettingsError(
            "CORS_ORIGINS: '*' cannot be combined with CORS_ALLOW_CREDENTIALS=true; "
            "list the allowed origins instead"
        )
    return Settings(
        host=_host(env["HOST"]),
        port=integer(env, "PORT", maximum=65535),
        workers=_workers(env["WORKERS"]),
        threads=integer(env, "THREADS"),
        cors_origins=origins,
        cors_allow_credentials=credentials,
        cors_max_age=integer(env, "CORS_MAX_AGE", minimum=0),
        secret_key=_secret_key(env.get("SECRET_KEY", "")),
        log_level=_log_level(env["LOG_LEVEL"]),
        log_format=_log_format(env),
        log_file=PROJECT_DIR / env["LOG_FILE"] if env["LOG_FILE"] else None,
        max_content_length=integer(env, "MAX_CONTENT_LENGTH"),
        forwarded_allow_ips=addresses(env, "FORWARDED_ALLOW_IPS"),
    )


def cpu_count() -> int:
    """CPUs this process may run on (a container's share, not the host's total)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def integer(env: Mapping[str, str], name: str, minimum: int = 1, maximum: int | None = None) -> int:
    """`env[name]` as a whole number within bounds, or a SettingsError naming it."""
    raw = env[name]
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"from {minimum} to {maximum}" if maximum is not None else f"of at least {minimum}"
        raise SettingsError(f"{name} must be a whole number {bounds} (got {raw!r})")
    return value


def choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    """`env[name]` if it is one of `choices`, or a SettingsError naming it."""
    if env[name] not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)} (got {env[name]!r})")
    return env[name]


def _boolean(env: Mapping[str, str], name: str) -> bool:
    raw = env[name].strip().lower()
    if raw not in TRUE + FALSE:
        raise SettingsError(f"{name} must be true or false (got {env[name]!r})")
    return raw in TRUE


def _workers(raw: str) -> int:
    # 2 x cores + 1 keeps every core busy while some workers wait on I/O (Gunicorn's advice).
    if raw.strip().lower() == "auto":
        return 2 * cpu_count() + 1
    return integer({"WORKERS": raw}, "WORKERS")


def _host(raw: str) -> str:
    if not raw or any(char.isspace() for char in raw):
        raise SettingsError(f"HOST must be an address or host name (got {raw!r})")
    return raw


def _origins(raw: str) -> tuple[str, ...]:
    origins = tuple(origin.strip() for origin in raw.split(",") if origin.strip())
    for origin in origins:
        if origin != "*" and not ORIGIN.fullmatch(origin):
            raise SettingsError(
                "CORS_ORIGINS must be '*' or comma-separated origins like "
                f"https://app.example.com:8443, without a path (got {origin!r})"
            )
    if not origins:
        raise SettingsError("CORS_ORIGINS must name at least one origin, or '*' (got '')")
    return origins


def addresses(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """`env[name]` as comma-separated IP addresses (or *), or a SettingsError naming it."""
    found = tuple(address.strip() for address in env[name].split(",") if address.strip())
    for address in found:
        if address != "*":
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise SettingsError(
                    f"{name} must be '*' or comma-separated IP addresses (got {address!r})"
                ) from None
    return found


def _secret_key(raw: str) -> str:
    if not raw:
        raise SettingsError(
            "SECRET_KEY is not set: put a long random value in the environment or .env, "
            'e.g. from: python -c "import secrets; print(secrets.token_urlsafe(48))"'
        )
    return raw


def _log_format(env: Mapping[str, str]) -> str:
    if not env["LOG_FORMAT"]:
        # Under systemd, Docker or Kubernetes stderr is no terminal: collectors get JSON.
        return "text" if sys.stderr.isatty() else "json"
    return choice(env, "LOG_FORMAT", LOG_FORMATS)


def _log_level(raw: str) -> str:
    if raw.upper() not in LOG_LEVELS:
        raise SettingsError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)} (got {raw!r})")
    return raw.upper()
