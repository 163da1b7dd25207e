"""Check every answer before anything is generated.

Each validator returns None or the reason a value is refused; all refusals are
printed as `<prompt>: <why> (got <value>)`, one per line, and generation stops.
Standard library only: hooks run in whatever Python runs cookiecutter.
"""

from __future__ import annotations

import ipaddress
import json
import re
import sys
from collections.abc import Callable

SLUG = re.compile(r"[a-z][a-z0-9_]{0,63}")
HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
ORIGIN = re.compile(r"https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?")
SERVERS = ("gunicorn", "waitress", "granian", "both")
DATABASES = ("none", "postgresql")
# local_extensions.SUPPORTED_PYTHONS, which python_version's default comes from.
PYTHONS = ("3.11", "3.12", "3.13", "3.14")


def validate_project_slug(value: str) -> str | None:
    if not SLUG.fullmatch(value):
        return "must start with a lower-case letter and hold only a-z, 0-9 and _ (at most 64)"
    return None


def validate_python_version(value: str) -> str | None:
    return None if value in PYTHONS else f"must be {', '.join(PYTHONS[:-1])} or {PYTHONS[-1]}"


def validate_server(value: str) -> str | None:
    return None if value in SERVERS else f"must be one of {', '.join(SERVERS)}"


def validate_database(value: str) -> str | None:
    return None if value in DATABASES else f"must be one of {', '.join(DATABASES)}"


def validate_host(value: str) -> str | None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if not HOSTNAME.fullmatch(value):
            return "must be an IP address (0.0.0.0, ::, 127.0.0.1) or a host name"
    return None


def validate_port(value: str) -> str | None:
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        return "must be a whole number from 1 to 65535"
    return None


def validate_workers(value: str) -> str | None:
    if value != "auto" and not (value.isdigit() and int(value) >= 1):
        return "must be 'auto' (2 x CPU cores + 1) or a whole number of at least 1"
    return None


def validate_threads(value: str) -> str | None:
    if not (value.isdigit() and int(value) >= 1):
        return "must be a whole number of at least 1"
    return None


def validate_cors_origins(value: str) -> str | None:
    origins = [origin.strip() for origin in value.split(",")]
    if value.strip() == "*":
        return None
    if not all(ORIGIN.fullmatch(origin) for origin in origins):
        return "must be '*' or comma-separated origins like https://app.example.com:8443, no path"
    return None


def validate_boolean(value: object) -> str | None:
    return None if isinstance(value, bool) else "must be yes or no"


VALIDATORS: dict[str, Callable[..., str | None]] = {
    "project_slug": validate_project_slug,
    "python_version": validate_python_version,
    "server": validate_server,
    "host": validate_host,
    "port": validate_port,
    "workers": validate_workers,
    "threads": validate_threads,
    "cors_origins": validate_cors_origins,
    "cors_allow_credentials": validate_boolean,
    "log_file": validate_boolean,
    "database": validate_database,
}


def errors(answers: dict[str, object]) -> list[str]:
    """Every refusal as one line, in prompt order."""
    found = [
        f"{key}: {reason} (got {answers[key]!r})"
        for key, validate in VALIDATORS.items()
        if (reason := validate(answers[key])) is not None
    ]
    if answers["cors_allow_credentials"] is True and answers["cors_origins"] == "*":
        # Browsers refuse credentials with a wildcard origin: the page would fail at run time.
        found.append(
            "cors_allow_credentials: cannot be yes while cors_origins is '*'; "
            "list the allowed origins instead (got True)"
        )
    return found


def main(answers: dict[str, object]) -> int:
    found = errors(answers)
    for line in found:
        print(line, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    # Cookiecutter renders the answers in as one JSON string literal, safe for any value
    # (the braces still parse as Python, so tests can import this module).
    sys.exit(main(json.loads({{cookiecutter | jsonify | tojson}})))  # noqa: F821
