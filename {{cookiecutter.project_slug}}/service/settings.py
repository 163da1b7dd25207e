{%- set gunicorn = cookiecutter.server in ("gunicorn", "both") -%}
{%- set granian = cookiecutter.server == "granian" -%}
{%- set database = cookiecutter.database == "postgresql" -%}
"""Every setting of the service, declared once: its name, default, meaning and check.

Each field of `Settings` is an environment variable of the same name in capitals, read
from the environment and `.env` (the environment wins) by pydantic-settings. A bad value
stops the start with one line naming the variable and its value. `python -m
service.settings` writes `.env.example` and the README's table from these declarations;
a test fails while they differ. A new setting is one field here, and its use.
"""

import ipaddress
import os
import re
import sys
from collections.abc import Callable, Mapping
{%- if cookiecutter.worker_class == "gthread" and gunicorn %}
from importlib.util import find_spec
{%- endif %}
from pathlib import Path
from typing import Annotated, Any, Literal

{% if database -%}
from pydantic import (
    BeforeValidator,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
{%- else -%}
from pydantic import BeforeValidator, Field, ValidationError, model_validator
{%- endif %}
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    NoDecode,
    SettingsConfigDict,
)
{%- if database %}
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
{%- endif %}

PROJECT_DIR = Path(__file__).resolve().parent.parent
ORIGIN = re.compile(r"https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?")
HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
NAMED = re.compile(r"[A-Z][A-Z_]+[=: ]")


class SettingsError(ValueError):
    """A setting has a value the service cannot start with."""


# --- Checks: each turns a variable's text into its value, or says what it must be.


def whole(minimum: int, maximum: int | None = None) -> Callable[[object], int]:
    bounds = f"from {minimum} to {maximum}" if maximum is not None else f"of at least {minimum}"

    def parse(raw: object) -> int:
        try:
            value = int(str(raw))
        except ValueError:
            value = minimum - 1
        if value < minimum or (maximum is not None and value > maximum):
            raise ValueError(f"must be a whole number {bounds}")
        return value

    return parse


def listed(valid: Callable[[str], object], form: str) -> Callable[[object], tuple[str, ...]]:
    def parse(raw: object) -> tuple[str, ...]:
        items = tuple(item.strip() for item in str(raw).split(",") if item.strip())
        for item in items:
            if not valid(item):
                raise ValueError(f"must be {form} (got {item!r})")
        return items

    return parse


def is_address(item: str) -> bool:
    try:
        return item == "*" or bool(ipaddress.ip_address(item))
    except ValueError:
        return False


def is_origin(item: str) -> bool:
    return item == "*" or ORIGIN.fullmatch(item) is not None


def given(raw: object) -> str | None:
    # Empty is unset: load_settings() refuses to serve without it.
    return str(raw) if raw else None


def host_name(raw: object) -> str:
    if not str(raw) or any(char.isspace() for char in str(raw)):
        raise ValueError("must be an address or host name")
    return str(raw)


def cpu_count() -> int:
    """CPUs this process may run on (a container's share, not the host's total)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
{%- if gunicorn or granian %}


def processes(raw: object) -> int:
    """`auto`: 2 x cores + 1, so every core stays busy while some processes wait."""
{%- if granian %}
    if sys.platform == "win32":
        return 1  # all Granian runs there
{%- endif %}
    if str(raw).strip().lower() == "auto":
        return 2 * cpu_count() + 1
    return whole(1)(raw)
{%- endif %}


def log_format(raw: object) -> object:
    # Under systemd, Docker or Kubernetes stderr is no terminal: collectors get JSON.
    if raw == "":
        return "text" if sys.stderr.isatty() else "json"
    return raw


def log_file(raw: object) -> Path | None:
    return PROJECT_DIR / str(raw) if raw else None
{%- if database %}


{%- if gunicorn or granian %}


def pooling_processes(workers: int) -> int:
    """Processes that each hold a pool of database connections."""
{%- if cookiecutter.server == "both" %}
    # Waitress, one process, is what runs on Windows; Gunicorn's workers elsewhere.
    return 1 if sys.platform == "win32" else workers
{%- else %}
    return workers
{%- endif %}
{%- endif %}


def pool_size(raw: object) -> int | str:
    return "auto" if str(raw).strip().lower() == "auto" else whole(1)(raw)


def database_url(raw: object) -> URL | None:
    """DATABASE_URL as providers hand it out, with the psycopg 3 driver; empty is unset.
    Errors show the URL with its password masked."""
    if isinstance(raw, URL) or not raw:
        return raw or None
    try:
        url = make_url(str(raw))
    except ArgumentError:
        raise ValueError(
            "must look like postgresql://user:password@host:port/dbname (could not parse it)"
        ) from None
    shown = url.render_as_string(hide_password=True)
    # postgres:// is what Heroku and some others hand out.
    if url.drivername not in ("postgresql", "postgres", "postgresql+psycopg"):
        raise ValueError(f"must start with postgresql:// (got {shown!r})")
    if not url.host and "host" not in url.query:  # ?host=/path is a Unix socket
        raise ValueError(f"names no host (got {shown!r})")
    if not url.database:
        raise ValueError(f"names no database (got {shown!r})")
    return url.set(drivername="postgresql+psycopg")
{%- endif %}


# The kinds of value settings take. NoDecode: a list is plain comma-separated text, not JSON.
Positive = Annotated[int, BeforeValidator(whole(1))]
Count = Annotated[int, BeforeValidator(whole(0))]
Port = Annotated[int, BeforeValidator(whole(1, 65535))]
Host = Annotated[str, BeforeValidator(host_name)]
Secret = Annotated[str | None, BeforeValidator(given)]
ORIGINS_FORM = "'*' or origins like https://app.example.com:8443, without a path"
Origins = Annotated[tuple[str, ...], NoDecode, BeforeValidator(listed(is_origin, ORIGINS_FORM))]
HEADERS_FORM = "comma-separated header names"
HeaderNames = Annotated[
    tuple[str, ...], NoDecode, BeforeValidator(listed(HEADER_NAME.fullmatch, HEADERS_FORM))
]
ADDRESSES_FORM = "'*' or comma-separated IP addresses"
Addresses = Annotated[
    tuple[str, ...], NoDecode, BeforeValidator(listed(is_address, ADDRESSES_FORM))
]
LogLevel = Annotated[
    Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
    BeforeValidator(lambda raw: str(raw).upper()),
]
LogFormat = Annotated[Literal["json", "text"], BeforeValidator(log_format)]
LogFile = Annotated[Path | None, BeforeValidator(log_file)]
{%- if gunicorn or granian %}
Processes = Annotated[int, BeforeValidator(processes)]
{%- endif %}
{%- if database %}
PoolSize = Annotated[int | Literal["auto"], BeforeValidator(pool_size)]
DatabaseURL = Annotated[URL | None, NoDecode, BeforeValidator(database_url)]
{%- endif %}


class Settings(BaseSettings):
    """Each field's description is its documentation (README, .env.example)."""

    model_config = SettingsConfigDict(
        env_file=PROJECT_DIR / ".env",
        extra="ignore",
        frozen=True,
        validate_default=True,
        arbitrary_types_allowed=True,
    )

    secret_key: Secret = Field(
        None,
        description="Signs sessions and tokens: long, random, secret. "
        "The service refuses to start without it.",
    )
{%- if database %}
    database_url: DatabaseURL = Field(
        None,
        description="The PostgreSQL database, as providers hand it out: "
        "`postgresql://user:password@host:port/dbname` (`postgres://` too; `?host=/path` "
        "for a Unix socket). Checked at start; errors never show the password.",
    )
{%- endif %}
    host: Host = Field(
        "{{ cookiecutter.host }}",  # nosec B104: binding every interface is a server's job
        description="Address to listen on.",
    )
    port: Port = Field({{ cookiecutter.port }}, description="Port to listen on (1-65535).")
{%- if gunicorn or granian %}
    workers: Processes = Field(
        "{{ cookiecutter.workers }}",
{%- if granian %}
        description="Granian worker processes; `auto` = 2 x CPU cores + 1. On Windows Granian "
        "runs one, whatever this says: raise `THREADS` there for a bigger burst.",
{%- elif cookiecutter.server == "both" %}
        description="Gunicorn worker processes; `auto` = 2 x CPU cores + 1. Waitress runs "
        "one process.",
{%- else %}
        description="Gunicorn worker processes; `auto` = 2 x CPU cores + 1.",
{%- endif %}
    )
{%- endif %}
    threads: Positive = Field(
        {{ cookiecutter.threads }},
        description="Requests each process runs at once. Handlers that wait on I/O need many.",
    )
    cors_origins: Origins = Field(
        "{{ cookiecutter.cors_origins }}",
        description="Origins allowed to call from a browser: comma-separated "
        "`scheme://host[:port]`, or `*`.",
    )
    cors_allow_credentials: bool = Field(
        {{ "True" if cookiecutter.cors_allow_credentials else "False" }},
        description="Allow cookies and HTTP auth cross-origin. Never together with `*`.",
    )
    cors_allow_headers: HeaderNames = Field(
        "",
        description="Request headers pages may send besides `Authorization`, `Content-Type`, "
        "`X-Request-ID`, `traceparent` and `tracestate`: comma-separated names.",
    )
    cors_max_age: Count = Field(
        600,
        description="Seconds a browser caches a preflight answer (Chromium caps it at 7200).",
    )
    log_level: LogLevel = Field(
        "INFO", description="`DEBUG`, `INFO`, `WARNING`, `ERROR` or `CRITICAL`."
    )
    log_format: LogFormat = Field(
        "",
        description="`json` (one object per line, for log collectors) or `text` (for "
        "people). Empty: `text` on a terminal, `json` otherwise (systemd, Docker, Kubernetes).",
    )
    log_file: LogFile = Field(
        "{{ 'app.log' if cookiecutter.log_file else '' }}",
        description="Also append logs to this file (relative to this folder; rotate it with "
        "logrotate's `copytruncate`); empty: stderr only.",
    )
    max_content_length: Positive = Field(
        1048576,
        description="Largest request body in bytes; larger ones get a JSON 413 before a view "
        "reads them.",
    )
    api_docs: bool = Field(
        False,
        description="Serve the OpenAPI document at `/openapi.json` and its docs page at "
        "`/docs`; off, both answer 404 (the document is committed as openapi.json).",
    )
    forwarded_allow_ips: Addresses = Field(
        "127.0.0.1",
        description="Proxies whose `X-Forwarded-*` headers are believed: comma-separated IPs, "
        "or `*`.",
    )
{%- if cookiecutter.include_metrics %}
    metrics_allow_ips: Addresses = Field(
        "",
        description="Who may read `/metrics`: comma-separated IPs; empty lets anyone (keep it "
        "off the public internet another way).",
    )
{%- endif %}
{%- if gunicorn %}
    worker_class: Literal["gthread", "gevent"] = Field(
        "{{ cookiecutter.worker_class }}",
        description="Gunicorn: `gthread` (threads; safe with every library) or `gevent` "
        "(greenlets, for I/O-bound bursts; libraries must cooperate with monkey-patching, "
        "e.g. psycopg2 with psycogreen{% if cookiecutter.worker_class == "gthread" %}; needs "
        "`pip install 'gunicorn[gevent]'`{% endif %}). A CPU-bound service runs `gthread` with "
        "`THREADS=1`.",
    )
    worker_connections: Positive = Field(
        1000, description="Gunicorn: open connections per worker, busy or idle."
    )
    timeout: Positive = Field(
        30,
        description="Gunicorn: seconds a request may run before its worker is replaced "
        "(`service/watchdog.py`): the worker takes no new connections and its other "
        "requests get `GRACEFUL_TIMEOUT`.",
    )
    graceful_timeout: Positive = Field(
        30, description="Gunicorn: seconds in-flight requests get to finish on stop or reload."
    )
    keepalive: Count = Field(
        5, description="Gunicorn: seconds an idle keep-alive connection stays open."
    )
    max_requests: Count = Field(
        0,
        description="Gunicorn: restart a worker after this many requests (0: never). A "
        "restart resets its open connections, which pages see as CORS errors; use it only to "
        "contain a leak (jitter is added).",
    )
{%- endif %}
{%- if granian %}
    timeout: Positive = Field(
        30,
        description="Granian: seconds a request may run before its worker is replaced "
        "(`service/watchdog.py`): the worker takes no new connections and its other "
        "requests get `GRACEFUL_TIMEOUT`.",
    )
    graceful_timeout: Positive = Field(
        30,
        description="Granian: seconds in-flight requests get to finish on stop or reload; "
        "then they are killed.",
    )
{%- endif %}

{%- if database %}
    db_max_connections: Positive = Field(
        80,
        description="Connections this service may hold on the database server in all: "
        "processes x (pool + 1 for `/readyz`). PostgreSQL allows 100 by default; the rest "
        "is left to migrations, psql and the instances a rolling deploy replaces.",
    )
    db_pool_size: PoolSize = Field(
        "auto",
        description="Connections each process pools. `auto`: one per request it runs at "
        "once, as many as `DB_MAX_CONNECTIONS` leaves it.",
    )
    db_pool_timeout: Positive = Field(
        5,
        description="Seconds a request waits for a free connection; then it is answered "
        "503 with `Retry-After`: past what a page's burst queues for, below the 10 s a "
        "page's client waits.",
    )
{%- endif %}

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: Any, **environment: Any
    ) -> tuple[Any, ...]:
        # load_settings() names where the values come from: tests pass their own.
        return (init_settings,)

    @model_validator(mode="after")
    def check_together(self) -> "Settings":
        if self.cors_allow_credentials and "*" in self.cors_origins:
            # Browsers reject this pair anyway; refusing it here names the real problem.
            raise ValueError(
                "CORS_ORIGINS: '*' cannot be combined with CORS_ALLOW_CREDENTIALS=true; "
                "list the allowed origins instead"
            )
        if not self.cors_origins:
            raise ValueError("CORS_ORIGINS must name at least one origin, or '*' (got '')")
{%- if cookiecutter.worker_class == "gthread" and gunicorn %}
        if self.worker_class == "gevent" and find_spec("gevent") is None:
            # Only a gevent bake lists gevent in its dependencies.
            raise ValueError("WORKER_CLASS=gevent needs gevent: pip install 'gunicorn[gevent]'")
{%- endif %}
        return self
{%- if database %}

    @field_validator("db_pool_size")
    @classmethod
    def size_pool(cls, size: int | str, given: ValidationInfo) -> int:
        """Connections per process: at most its concurrent requests, and all processes'
        pools plus their /readyz connections within DB_MAX_CONNECTIONS."""
        if "db_max_connections" not in given.data:
            return 1  # an earlier setting was refused: its error is the one reported
        budget = given.data["db_max_connections"]
{%- if gunicorn or granian %}
        count = pooling_processes(given.data.get("workers", 1))
{%- else %}
        count = 1  # Waitress runs one process
{%- endif %}
{%- if gunicorn %}
        # A gevent worker runs up to WORKER_CONNECTIONS requests at once, not THREADS.
        gevent = given.data.get("worker_class") == "gevent"
        concurrency = given.data.get("worker_connections" if gevent else "threads", 1)
{%- else %}
        concurrency = given.data.get("threads", 1)
{%- endif %}
        if size == "auto":
            size = min(concurrency, budget // count - 1)
        elif int(size) > concurrency:
            raise ValueError(
                f"DB_POOL_SIZE={size} is more than the {concurrency} requests a process runs "
                "at once: lower DB_POOL_SIZE, or set it to auto"
            )
        if int(size) < 1 or count * (int(size) + 1) > budget:
            raise ValueError(
                f"DB_MAX_CONNECTIONS={budget} cannot hold {count} process(es) x "
                f"({max(int(size), 1)} pooled + 1 for /readyz) connections: raise "
                "DB_MAX_CONNECTIONS, or lower {{ 'WORKERS or ' if gunicorn or granian }}DB_POOL_SIZE"
            )
        return int(size)

    @property
    def db_processes(self) -> int:
        """Processes that each hold a pool."""
{%- if gunicorn or granian %}
        return pooling_processes(self.workers)
{%- else %}
        return 1  # Waitress runs one process
{%- endif %}

    @property
    def db_connections(self) -> int:
        """Connections the service may open in all: each process's pool and its /readyz one."""
        return self.db_processes * (int(self.db_pool_size) + 1)
{%- endif %}

    @property
    def listen_address(self) -> str:
        """`host:port`, with an IPv6 host in brackets as servers expect."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def env_text(value: object) -> str:
    """A value as the environment spells it."""
    if isinstance(value, bool):
        return str(value).lower()
    return "" if value is None else str(value)


# The settings the service refuses to start without, and what to do about each. Only
# serving needs them: `flask --app app spec` and the tests' apps start without.
REQUIRED = {
    "SECRET_KEY": "put a long random value in the environment or .env, e.g. from: "  # nosec B105
    'python -c "import secrets; print(secrets.token_urlsafe(48))"',
{%- if database %}
    "DATABASE_URL": "put postgresql://user:password@host:port/dbname in the environment or .env",
{%- endif %}
}
# Each other setting's default, as the environment spells it.
DEFAULTS = {
    name.upper(): env_text(field.default)
    for name, field in Settings.model_fields.items()
    if name.upper() not in REQUIRED
}


def load_settings(
    environ: Mapping[str, str | None] | None = None, *, serving: bool = True
) -> Settings:
    """The settings in `environ` (default: `.env` overlaid by the real environment); to
    serve, the REQUIRED ones must be set."""
    if environ is None:
        values = {**DotEnvSettingsSource(Settings)(), **EnvSettingsSource(Settings)()}
    else:
        values = {name.lower(): value for name, value in environ.items() if value is not None}
    try:
        settings = Settings(**values)
    except ValidationError as error:
        raise SettingsError(one_line(error)) from None
    return ready_to_serve(settings) if serving else settings


def ready_to_serve(settings: Settings) -> Settings:
    """`settings`, once each REQUIRED one is set: a server refuses to start without."""
    for name, hint in REQUIRED.items():
        if getattr(settings, name.lower()) is None:
            raise SettingsError(f"{name} is not set: {hint}")
    return settings


def one_line(error: ValidationError) -> str:
    """The first problem, as `NAME must be ... (got 'value')`."""
    problem = error.errors()[0]
    if not problem["loc"]:  # a check of several settings together words its own message
        return str(problem["ctx"]["error"])
    name = str(problem["loc"][0]).upper()
    value = problem.get("input")
    if problem["type"] == "bool_parsing":
        reason = "must be true or false"
    elif problem["type"] == "literal_error":
        reason = "must be one of " + problem["ctx"]["expected"].replace("'", "")
    else:
        reason = str(problem["ctx"]["error"])
    if NAMED.match(reason):  # a check that weighs several settings names them itself
        return reason
    return f"{name} {reason}" if "(got " in reason else f"{name} {reason} (got {value!r})"
