{#- Gunicorn and Granian run the app in several processes, whose metrics add up. #}
{%- set multiprocess = cookiecutter.include_metrics and cookiecutter.server != "waitress" -%}
{%- set database = cookiecutter.database == "postgresql" -%}
{#- Gunicorn runs on POSIX only; Waitress and Granian on Windows too. #}
{%- set posix = cookiecutter.server == "gunicorn" -%}
"""What each launcher does at start: room for a burst's sockets, and one line on capacity."""
{%- if multiprocess or posix %}
{% endif %}
{%- if multiprocess %}
import atexit
import os
{%- endif %}
{%- if posix %}
import resource
{%- endif %}
{%- if multiprocess %}
import shutil
import tempfile
from pathlib import Path
{%- endif %}
{%- if database %}

from service.settings import Settings
{%- endif %}


def raise_open_file_limit(wanted: int) -> None:
    """Room for `wanted` sockets, past the usual soft limit of 1,024 open files (never past
    the hard limit)."""
{%- if not posix %}
    try:
        import resource  # POSIX only; Windows has no such per-process limit to raise.
    except ImportError:
        return
{%- endif %}
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def capacity_line(processes: int, per_process: int, connections: int) -> str:
    """Logged once at start, so capacity is never a guess."""
    return (
        f"capacity: {processes} process(es) x {per_process} = {processes * per_process} "
        f"concurrent requests; up to {connections} open connections"
    )
{%- if database %}


def database_budget(settings: Settings) -> str:
    """The capacity line's database part: what all pools together may hold."""
    return (
        f"; database: {settings.db_processes} process(es) x ({settings.db_pool_size} pooled + 1 "
        f"for /readyz) = {settings.db_connections} of DB_MAX_CONNECTIONS="
        f"{settings.db_max_connections} connections"
    )
{%- endif %}
{%- if multiprocess %}


def start_metrics_dir(name: str) -> None:
    """An empty PROMETHEUS_MULTIPROC_DIR for this run, set before any worker starts: each
    worker keeps its counts in a file there, and /metrics adds them up (service/metrics.py)."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory is None:
        directory = tempfile.mkdtemp(prefix=f"{name}-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
        atexit.register(remove_metrics_dir, directory, os.getpid())
    # Files of an earlier run would add its counts to this one's.
    for stale in Path(directory).glob("*.db"):
        stale.unlink()


def remove_metrics_dir(directory: str, owner: int) -> None:
    """At exit, the folder goes with the process that made it; workers forked from that
    process run this too, and leave it."""
    if os.getpid() == owner:
        shutil.rmtree(directory, ignore_errors=True)
{%- endif %}
