"""A throwaway PostgreSQL server for the tests: a temporary data directory, a free port on
127.0.0.1, trust authentication, always stopped and deleted.

PostgreSQL refuses to run as root, so when the tests run as root (as in many CI
containers) the server runs as the unprivileged `postgres` user that Debian's and
Ubuntu's packages create.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

SUPERUSER = "postgres"
# Where packages put the server binaries, newest version first: Debian and Ubuntu, then
# the PostgreSQL installers' own folders (Windows: PGBIN, which GitHub's runners set).
DEBIAN = Path("/usr/lib/postgresql")


def binaries() -> Path | None:
    """The folder holding initdb and pg_ctl, or None when this machine has none."""
    candidates = [os.environ.get("PGBIN", "")]
    candidates.append(str(Path(shutil.which("pg_ctl") or ".").parent))
    if DEBIAN.is_dir():
        versions = sorted(DEBIAN.iterdir(), key=lambda path: int(path.name), reverse=True)
        candidates += [str(version / "bin") for version in versions if version.name.isdigit()]
    for folder in filter(None, candidates):
        if shutil.which("pg_ctl", path=folder) and shutil.which("initdb", path=folder):
            return Path(folder)
    return None


@dataclass
class Cluster:
    bindir: Path
    data: Path
    port: int
    # The operating-system user the server runs as; None: the one running the tests.
    user: str | None

    def url(self, database: str = "postgres") -> str:
        """A DATABASE_URL for `database`, in the form providers hand out."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def run(self, program: str, *args: str) -> None:
        command = [str(self.bindir / program), *args]
        done = subprocess.run(
            command, user=self.user, capture_output=True, text=True, timeout=60, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed: {done.stdout}{done.stderr}")

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data}"
        log = str(self.data / "server.log")
        self.run("pg_ctl", "start", "--wait", "-D", str(self.data), "-l", log, "-o", options)

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends every session at once, as a database restart or failover does."""
        self.run("pg_ctl", "stop", "--wait", "-D", str(self.data), "-m", mode)

    def create_database(self, name: str, template: str = "template1") -> str:
        """A new database (copied from `template`); its DATABASE_URL."""
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return self.url(name)


@contextlib.contextmanager
def throwaway_cluster(port: int, max_connections: int = 200) -> Iterator[Cluster]:
    """Initialise and start a server on 127.0.0.1:`port`; stop and delete it afterwards."""
    bindir = binaries()
    if bindir is None:
        raise RuntimeError("no PostgreSQL server binaries (initdb, pg_ctl) found")
    as_root = hasattr(os, "geteuid") and os.geteuid() == 0
    data = Path(tempfile.mkdtemp(prefix="pytest-postgres-"))
    cluster = Cluster(bindir, data, port, SUPERUSER if as_root else None)
    try:
        if as_root:
            shutil.chown(data, SUPERUSER)
        # No fsync: a test database that a crash loses costs nothing, and it starts faster.
        cluster.run("initdb", "-D", str(data), "-U", SUPERUSER, "-A", "trust", "--no-sync")
        with (data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(f"max_connections = {max_connections}\nfsync = off\n")
            conf.write("synchronous_commit = off\nfull_page_writes = off\n")
        cluster.start()
        yield cluster
    finally:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            cluster.stop("immediate")
        shutil.rmtree(data, ignore_errors=True)
