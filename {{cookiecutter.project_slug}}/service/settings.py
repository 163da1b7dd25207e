{%- set gunicorn = cookiecutter.server in ("gunicorn", "both") -%}
{%- set granian = cookiecutter.server == "granian" -%}
{%- set database = cookiecutter.database == "postgresql" -%}
"""Every setting of the service, read once from the environment (and `.env`) and checked.

Each is an environment variable whose default is in DEFAULTS only (a test keeps
`.env.example` and the README in step); a bad value stops the start with one line naming
it. The app, gunicorn.conf.py and wsgi.py read the one `Settings` object.
"""

import ipaddress
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
{%- if cookiecutter.worker_class == "gthread" and gunicorn %}
from importlib.util import find_spec
{%- endif %}
from pathlib import Path

from dotenv import dotenv_values
{%- if database %}
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
{%- endif %}

PROJECT_DIR = Path(__file__).resolve().parent.parent

DEFAULTS = {
    # Listening on every interface is a server's job; HOST narrows it.
    "HOST": "{{ cookiecutter.host }}",  # nosec B104
    "PORT": "{{ cookiecutter.port }}",
{%- if gunicorn or granian %}
    # Processes: "auto" = 2 x cores + 1, every core busy while some wait (Gunicorn's advice).
{%- if granian %}
    # Granian runs one on Windows, whatever this says: raise THREADS there instead.
{%- endif %}
    "WORKERS": "{{ cookiecutter.workers }}",
{%- endif %}
    # Requests each process runs at once: handlers that wait on I/O need many.
    "THREADS": "{{ cookiecutter.threads }}",
    "CORS_ORIGINS": "{{ cookiecutter.cors_origins }}",
    "CORS_ALLOW_CREDENTIALS": "{{ cookiecutter.cors_allow_credentials | lower }}",
    # Request headers a page may send besides the ones the service always allows.
    "CORS_ALLOW_HEADERS": "",
    # Seconds a browser caches a preflight answer (Chromium caps it at 7200).
    "CORS_MAX_AGE": "600",
    "LOG_LEVEL": "INFO",
    # json (for log collectors) or text (for people); empty: text on a terminal, else json.
    "LOG_FORMAT": "",
    "LOG_FILE": "{{ 'app.log' if cookiecutter.log_file else '' }}",
    # 1 MiB: enough for JSON APIs; larger bodies get a 413 before a view reads them.
    "MAX_CONTENT_LENGTH": "1048576",
    # Proxies whose X-Forwarded-For and X-Forwarded-Proto are believed.
    "FORWARDED_ALLOW_IPS": "127.0.0.1",
{%- if cookiecutter.include_metrics %}
    # Who may read /metrics; empty lets anyone (keep it off the internet another way).
    "METRICS_ALLOW_IPS": "",
{%- endif %}
{%- if gunicorn %}
    # Gunicorn's own (gunicorn.conf.py says what each does).
    "WORKER_CLASS": "{{ cookiecutter.worker_class }}",
    "WORKER_CONNECTIONS": "1000",
    "TIMEOUT": "30",
    "GRACEFUL_TIMEOUT": "30",
    "KEEPALIVE": "5",
    "MAX_REQUESTS": "0",
{%- endif %}
{%- if granian %}
    # Seconds a request may run before its worker is replaced (service/watchdog.py), and
    # seconds in-flight requests get to finish on stop or reload (wsgi.py).
    "TIMEOUT": "30",
    "GRACEFUL_TIMEOUT": "30",
{%- endif %}
{%- if database %}
    # Connections this service may hold on the database server in all: processes x (pool
    # + 1 for /readyz). PostgreSQL allows 100 by default (3 kept for superusers); the rest
    # is left to migrations, psql and, in a rolling deploy, the instances being replaced.
    "DB_MAX_CONNECTIONS": "80",
    # Connections each process pools: auto = one per request it runs at once, as many as
    # DB_MAX_CONNECTIONS leaves to each process.
    "DB_POOL_SIZE": "auto",
    # Seconds a request waits for a free connection before it is answered 503: past what a
    # page's burst queues for (2 s lost 2% of a 1,600-pair burst under Granian), well
    # below the 10 s a page's client waits.
    "DB_POOL_TIMEOUT": "5",
{%- endif %}
}
# Settings with no default: the service refuses to start without them.
REQUIRED = ("SECRET_KEY",{% if database %} "DATABASE_URL"{% endif %})
{%- if gunicorn %}
WORKER_CLASSES = ("gthread", "gevent")
{%- endif %}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("json", "text")
ORIGIN = re.compile(r"https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?")
HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
IP_LIST = "'*' or comma-separated IP addresses"
BOOLEANS = {"1": True, "true": True, "yes": True, "on": True}
BOOLEANS |= {"0": False, "false": False, "no": False, "off": False}


class SettingsError(ValueError):
    """A setting has a value the service cannot start with."""


@dataclass(frozen=True)
class Settings:
    secret_key: str
    host: str
    port: int
{%- if gunicorn or granian %}
    workers: int
{%- endif %}
    threads: int
    cors_origins: tuple[str, ...]
    cors_allow_credentials: bool
    cors_allow_headers: tuple[str, ...]
    cors_max_age: int
    log_level: str
    log_format: str
    log_file: Path | None
    max_content_length: int
    forwarded_allow_ips: tuple[str, ...]
{%- if cookiecutter.include_metrics %}
    metrics_allow_ips: tuple[str, ...]
{%- endif %}
{%- if gunicorn %}
    worker_class: str
    worker_connections: int
    timeout: int
    graceful_timeout: int
    keepalive: int
    max_requests: int
{%- endif %}
{%- if granian %}
    timeout: int
    graceful_timeout: int
{%- endif %}
{%- if database %}
    # SQLAlchemy's URL for psycopg 3, from DATABASE_URL.
    database_url: URL
    # Processes that each hold a pool, and the connections each pools.
    db_processes: int
    db_max_connections: int
    db_pool_size: int
    db_pool_timeout: int
{%- endif %}

    @property
    def listen_address(self) -> str:
        """`host:port`, with an IPv6 host in brackets as servers expect."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"
{%- if database %}

    @property
    def db_connections(self) -> int:
        """Connections the service may open in all: each process's pool and its /readyz one."""
        return self.db_processes * (self.db_pool_size + 1)
{%- endif %}


def load_settings(environ: Mapping[str, str | None] | None = None) -> Settings:
    """The settings in `environ` (default: `.env` overlaid by the real environment)."""
    if environ is None:
        environ = {**dotenv_values(PROJECT_DIR / ".env"), **os.environ}
    env = {**DEFAULTS, **{name: value for name, value in environ.items() if value is not None}}
    if not env.get("SECRET_KEY"):
        raise SettingsError(
            "SECRET_KEY is not set: put a long random value in the environment or .env, "
            'e.g. from: python -c "import secrets; print(secrets.token_urlsafe(48))"'
        )
    if not env["HOST"] or any(char.isspace() for char in env["HOST"]):
        raise SettingsError(f"HOST must be an address or host name (got {env['HOST']!r})")
    origins = _origins(env)
    credentials = boolean(env, "CORS_ALLOW_CREDENTIALS")
    if credentials and "*" in origins:
        # Browsers reject this pair anyway; refusing it here names the real problem.
        raise SettingsError(
            "CORS_ORIGINS: '*' cannot be combined with CORS_ALLOW_CREDENTIALS=true; "
            "list the allowed origins instead"
        )
{%- if database %}
{%- if gunicorn or granian %}
    workers = _workers(env["WORKERS"])
{%- endif %}
{%- if cookiecutter.server == "both" %}
    # Waitress, one process, is what runs on Windows; Gunicorn's workers elsewhere.
    processes = 1 if sys.platform == "win32" else workers
{%- elif gunicorn or granian %}
    processes = workers
{%- else %}
    processes = 1  # Waitress
{%- endif %}
    threads = integer(env, "THREADS")
{%- if gunicorn %}
    worker_class = _worker_class(env)
    # A gevent worker runs up to WORKER_CONNECTIONS requests at once, not THREADS.
    concurrency = integer(env, "WORKER_CONNECTIONS") if worker_class == "gevent" else threads
{%- else %}
    concurrency = threads
{%- endif %}
    budget = integer(env, "DB_MAX_CONNECTIONS")
{%- endif %}
    return Settings(
        secret_key=env["SECRET_KEY"],
        host=env["HOST"],
        port=integer(env, "PORT", maximum=65535),
{%- if gunicorn or granian %}
{%- if database %}
        workers=workers,
{%- else %}
        workers=_workers(env["WORKERS"]),
{%- endif %}
{%- endif %}
        threads={{ "threads" if database else 'integer(env, "THREADS")' }},
        cors_origins=origins,
        cors_allow_credentials=credentials,
        cors_allow_headers=listed(
            env, "CORS_ALLOW_HEADERS", HEADER_NAME.fullmatch, "comma-separated header names"
        ),
        cors_max_age=integer(env, "CORS_MAX_AGE", minimum=0),
        log_level=choice({"LOG_LEVEL": env["LOG_LEVEL"].upper()}, "LOG_LEVEL", LOG_LEVELS),
        log_format=_log_format(env),
        log_file=PROJECT_DIR / env["LOG_FILE"] if env["LOG_FILE"] else None,
        max_content_length=integer(env, "MAX_CONTENT_LENGTH"),
        forwarded_allow_ips=listed(env, "FORWARDED_ALLOW_IPS", is_address, IP_LIST),
{%- if cookiecutter.include_metrics %}
        metrics_allow_ips=listed(env, "METRICS_ALLOW_IPS", is_address, IP_LIST),
{%- endif %}
{%- if gunicorn %}
        worker_class={{ "worker_class" if database else "_worker_class(env)" }},
        worker_connections=integer(env, "WORKER_CONNECTIONS"),
        timeout=integer(env, "TIMEOUT"),
        graceful_timeout=integer(env, "GRACEFUL_TIMEOUT"),
        keepalive=integer(env, "KEEPALIVE", minimum=0),
        max_requests=integer(env, "MAX_REQUESTS", minimum=0),
{%- endif %}
{%- if granian %}
        timeout=integer(env, "TIMEOUT"),
        graceful_timeout=integer(env, "GRACEFUL_TIMEOUT"),
{%- endif %}
{%- if database %}
        database_url=_database_url(env.get("DATABASE_URL", "")),
        db_processes=processes,
        db_max_connections=budget,
        db_pool_size=_db_pool_size(env["DB_POOL_SIZE"], processes, concurrency, budget),
        db_pool_timeout=integer(env, "DB_POOL_TIMEOUT"),
{%- endif %}
    )


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


def boolean(env: Mapping[str, str], name: str) -> bool:
    """`env[name]` as true or false (also 1/0, yes/no, on/off), or a SettingsError."""
    try:
        return BOOLEANS[env[name].strip().lower()]
    except KeyError:
        raise SettingsError(f"{name} must be true or false (got {env[name]!r})") from None


def listed(env: Mapping[str, str], name: str, valid: Callable[[str], object], form: str) -> tuple:
    """`env[name]` as a comma-separated list of `valid` items, or a SettingsError naming it."""
    items = tuple(item.strip() for item in env[name].split(",") if item.strip())
    for item in items:
        if not valid(item):
            raise SettingsError(f"{name} must be {form} (got {item!r})")
    return items


def is_address(item: str) -> bool:
    try:
        return item == "*" or bool(ipaddress.ip_address(item))
    except ValueError:
        return False


def cpu_count() -> int:
    """CPUs this process may run on (a container's share, not the host's total)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


{%- if gunicorn or granian %}


def _workers(raw: str) -> int:
{%- if granian %}
    if sys.platform == "win32":
        return 1  # all Granian runs there
{%- endif %}
    if raw.strip().lower() == "auto":
        return 2 * cpu_count() + 1
    return integer({"WORKERS": raw}, "WORKERS")
{%- endif %}
{%- if gunicorn %}


def _worker_class(env: Mapping[str, str]) -> str:
    worker_class = choice(env, "WORKER_CLASS", WORKER_CLASSES)
{%- if cookiecutter.worker_class == "gthread" %}
    if worker_class == "gevent" and find_spec("gevent") is None:
        # Only a gevent bake lists gevent in its dependencies.
        raise SettingsError("WORKER_CLASS=gevent needs gevent: pip install 'gunicorn[gevent]'")
{%- endif %}
    return worker_class
{%- endif %}


def _origins(env: Mapping[str, str]) -> tuple[str, ...]:
    form = "'*' or comma-separated origins like https://app.example.com:8443, without a path"
    origins = listed(env, "CORS_ORIGINS", lambda item: item == "*" or ORIGIN.fullmatch(item), form)
    if not origins:
        raise SettingsError("CORS_ORIGINS must name at least one origin, or '*' (got '')")
    return origins


{%- if database %}


def _database_url(raw: str) -> URL:
    """DATABASE_URL as providers hand it out (postgresql://user:password@host:port/name),
    with the psycopg 3 driver. Errors show the URL with its password masked."""
    if not raw:
        raise SettingsError(
            "DATABASE_URL is not set: put postgresql://user:password@host:port/dbname "
            "in the environment or .env"
        )
    try:
        url = make_url(raw)
    except ArgumentError:
        raise SettingsError(
            "DATABASE_URL must look like postgresql://user:password@host:port/dbname "
            "(could not parse it)"
        ) from None
    shown = url.render_as_string(hide_password=True)
    # postgres:// is what Heroku and some others hand out.
    if url.drivername not in ("postgresql", "postgres", "postgresql+psycopg"):
        raise SettingsError(f"DATABASE_URL must start with postgresql:// (got {shown!r})")
    if not url.host and "host" not in url.query:  # ?host=/path is a Unix socket
        raise SettingsError(f"DATABASE_URL names no host (got {shown!r})")
    if not url.database:
        raise SettingsError(f"DATABASE_URL names no database (got {shown!r})")
    return url.set(drivername="postgresql+psycopg")


def _db_pool_size(raw: str, processes: int, concurrency: int, budget: int) -> int:
    """Connections per process: at most its concurrent requests, and all processes' pools
    plus their /readyz connections within DB_MAX_CONNECTIONS."""
    share = budget // processes - 1
    if raw.strip().lower() == "auto":
        size = min(concurrency, share)
    else:
        size = integer({"DB_POOL_SIZE": raw}, "DB_POOL_SIZE")
        if size > concurrency:
            raise SettingsError(
                f"DB_POOL_SIZE={size} is more than the {concurrency} requests a process runs "
                "at once: lower DB_POOL_SIZE, or set it to auto"
            )
    if size < 1 or processes * (size + 1) > budget:
        raise SettingsError(
            f"DB_MAX_CONNECTIONS={budget} cannot hold {processes} process(es) x "
            f"({max(size, 1)} pooled + 1 for /readyz) connections: raise DB_MAX_CONNECTIONS, "
            "or lower {{ 'WORKERS or ' if gunicorn or granian }}DB_POOL_SIZE"
        )
    return size
{%- endif %}


def _log_format(env: Mapping[str, str]) -> str:
    if not env["LOG_FORMAT"]:
        # Under systemd, Docker or Kubernetes stderr is no terminal: collectors get JSON.
        return "text" if sys.stderr.isatty() else "json"
    return choice(env, "LOG_FORMAT", LOG_FORMATS)
