"""Helpers the template's tests share, beside conftest.py's fixtures.

`require_tool` is the one place that decides what a missing tool means: a skip that says
what to install on a laptop, a failure under CI, where every tool is installed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import io
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

TEMPLATE_DIR = Path(__file__).resolve().parent.parent
# The generated project's source: its files without template syntax load from here too.
PROJECT_SOURCE = TEMPLATE_DIR / "{{cookiecutter.project_slug}}"


def load_module(path: Path, name: str) -> ModuleType:
    """The Python file at `path` (a baked project's, or one of PROJECT_SOURCE's files that
    holds no template syntax) as module `name`: one copy, shipped and used here."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"no Python module at {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # a dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


# A free port on 127.0.0.1, as the generated suite finds one.
free_port = load_module(PROJECT_SOURCE / "tests" / "ports.py", "generated_ports").free_port

# The values of CI that mean "not under CI" (any case); anything else, "1" or "true"
# included, is CI.
NOT_CI = ("", "0", "false", "no")


def in_ci() -> bool:
    """Whether CI is set to a truthy value, as CI services (and .ci/run) set it."""
    return os.environ.get("CI", "").lower() not in NOT_CI


def nested_pytest(basetemp: Path) -> list[str]:
    """pytest's options for a generated suite run inside this one: quiet, no cache written
    into the project, and a --basetemp of its own. Sessions that share
    /tmp/pytest-of-<user> prune each other's numbered directories when they exit; under
    xdist one removed a directory another session was still writing in, and failed."""
    return ["-q", "-p", "no:cacheprovider", f"--basetemp={basetemp}"]


def require_tool(available: bool, what: str, install_hint: str) -> None:
    """Go on when `available`; otherwise skip with one line naming what to install, or
    fail under CI, where a skipped test would pass without checking anything."""
    if available:
        return
    reason = f"{what} is not available here: {install_hint}"
    if in_ci():
        pytest.fail(f"{reason} (CI is set: this test must run, not skip)", pytrace=False)
    pytest.skip(reason)


# --- Slow clients

# A normal request beside slow clients may take this many times as long as the same
# request without them, measured in the same run, and never less than the floor: room for
# a busy machine, under what one held thread costs (a gthread thread waits 5 s for a
# connection's first bytes). A server that stops answering fails in any case: each
# request times out after 10 s.
SLOW_CLIENT_FACTOR = 5
SLOW_CLIENT_FLOOR_SECONDS = 3.0


def slow_client_bound(reference: float) -> float:
    """Seconds the slowest normal request may take beside slow clients, given the slowest
    the same requests took without them (`reference`)."""
    return max(SLOW_CLIENT_FLOOR_SECONDS, SLOW_CLIENT_FACTOR * reference)


# --- A service's output


def access_log(output: str) -> list[dict[str, Any]]:
    """The access lines in a service's output (LOG_FORMAT=json), in the order written:
    each has time, process, method, path, status and duration_ms."""
    records = []
    for line in output.splitlines():
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if record.get("logger") == "access":
                    records.append(record)
    return records


# --- Baked deployment files


def graceful_timeout(project: Path) -> int:
    """Seconds the server lets in-flight requests finish: Gunicorn's or Granian's default
    GRACEFUL_TIMEOUT, as .env.example shows service/settings.py's declaration (the baked
    suite checks the two agree); 0 for Waitress, which stops at once."""
    example = (project / ".env.example").read_text()
    found = re.search(r"^# GRACEFUL_TIMEOUT=(\d+)$", example, re.MULTILINE)
    if not (project / "start.sh").exists():
        assert found is None, "a Waitress-only bake has no GRACEFUL_TIMEOUT"
        return 0
    assert found, "GRACEFUL_TIMEOUT default not found"
    return int(found.group(1))


def manifests(project: Path) -> dict[str, dict]:
    """A bake's Kubernetes documents (deploy/k8s/*.yaml) by kind."""
    documents = [
        document
        for path in sorted((project / "deploy/k8s").glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
    ]
    return {document["kind"]: document for document in documents}


# --- A container engine: podman, with stand-ins for the registry images
#
# No container registry is reachable here, so the two images a bake's Dockerfile names
# are made locally, under the same tags, from the Debian and PyPI registries:
#   python:<version>-slim       Debian bookworm (debootstrap minbase) with Debian's
#                               python3 at /usr/bin/python3; the official image builds
#                               CPython into /usr/local (/usr/local/bin/python) and has
#                               no Debian python3. Plus this machine's CA bundle
#                               (SSL_CERT_FILE), which a build's TLS to PyPI needs here.
#   ghcr.io/astral-sh/uv:<v>    FROM scratch, /uv and /uvx from PyPI's uv <v> wheel (the
#                               static musl build, as the official image ships).
# Each carries a label with a key of what it was made from: a later run on this machine
# reuses it while the key matches, a new machine makes it from nothing.

# crun, podman's default runtime, refuses this machine kind's hybrid cgroups; vfs needs
# no overlay support from the kernel.
PODMAN = ["podman", "--storage-driver", "vfs", "--runtime", "runc"]
# Raising RLIMIT_NPROC is refused here: every `build` and `run` passes lower limits.
ULIMITS = ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=4096:4096"]
STAND_IN_LABEL = "org.flask-prod.stand-in"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
DEBIAN_SUITE = "bookworm"  # the suite python:3.11-slim is built on
DEBIAN_PACKAGES = ("python3", "python3-venv")
# How the stand-ins are made: change it, and every machine makes them again.
STAND_IN_RECIPE = "1"


def podman_available() -> bool:
    return all(shutil.which(name) for name in ("podman", "runc", "debootstrap"))


def require_podman() -> None:
    require_tool(podman_available(), "podman", "apt-get install podman runc debootstrap")


def podman(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """One podman command, its output captured; the caller checks returncode."""
    return subprocess.run(
        [*PODMAN, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def podman_ok(*args: str, timeout: float = 600) -> str:
    """podman's stdout; its output is the failure when it fails."""
    done = podman(*args, timeout=timeout)
    assert done.returncode == 0, f"podman {' '.join(args)}:\n{done.stdout}{done.stderr}"
    return done.stdout


def image_label(tag: str, label: str) -> str | None:
    """A label of local image `tag`; None when there is no such image."""
    done = podman("image", "inspect", "--format", "{{json .Labels}}", tag, timeout=60)
    if done.returncode != 0:
        return None
    return (json.loads(done.stdout) or {}).get(label, "")


@contextlib.contextmanager
def machine_lock(name: str) -> Iterator[None]:
    """Held by one process of this machine at a time (xdist workers make one stand-in)."""
    with (Path(tempfile.gettempdir()) / f"flask-prod-{name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def stand_in(tag: str, key: str, make: Callable[[str], None]) -> str:
    """Local image `tag`, made by make(labelled_key) unless one with this key exists."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    with machine_lock(tag.replace("/", "_").replace(":", "_")):
        if image_label(tag, STAND_IN_LABEL) != digest:
            started = time.monotonic()
            make(digest)
            assert image_label(tag, STAND_IN_LABEL) == digest, f"{tag} was not made"
            print(f"stand-in {tag} made in {time.monotonic() - started:.0f} s")
    return tag


def python_stand_in(version: str) -> str:
    """`python:<version>-slim`: Debian's Python, which must be `version`."""
    tag = f"python:{version}-slim"
    ca = hashlib.sha256(CA_BUNDLE.read_bytes()).hexdigest()
    key = f"{STAND_IN_RECIPE} {DEBIAN_SUITE} {' '.join(DEBIAN_PACKAGES)} {ca}"

    def make(digest: str) -> None:
        with tempfile.TemporaryDirectory(prefix="stand-in-") as folder:
            root = Path(folder) / "root"
            debootstrap = ["debootstrap", "--variant=minbase"]
            debootstrap += [f"--include={','.join(DEBIAN_PACKAGES)}", DEBIAN_SUITE, str(root)]
            done = subprocess.run(
                debootstrap, capture_output=True, text=True, timeout=900, check=False
            )
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
            shutil.copy(CA_BUNDLE, root / "etc/ssl/certs/flask-prod-ca.crt")
            archive = Path(folder) / "root.tar"
            tar = [shutil.which("tar") or "tar", "-C", str(root), "-cf", str(archive), "."]
            subprocess.run(tar, check=True)
            changes = [
                f"LABEL {STAND_IN_LABEL}={digest}",
                "ENV LANG=C.UTF-8",
                "ENV SSL_CERT_FILE=/etc/ssl/certs/flask-prod-ca.crt",
                'CMD ["python3"]',
            ]
            podman_ok("import", *(f"--change={change}" for change in changes), str(archive), tag)
        found = podman_ok("run", "--rm", *ULIMITS, tag, "python3", "-c", VERSION_CODE).strip()
        assert found == version, f"{DEBIAN_SUITE}'s Python is {found}, the bake wants {version}"

    return stand_in(tag, key, make)


VERSION_CODE = "import sys; print('%d.%d' % sys.version_info[:2])"


def uv_stand_in(version: str) -> str:
    """`ghcr.io/astral-sh/uv:<version>`: uv and uvx from PyPI's wheel of `version`."""
    tag = f"ghcr.io/astral-sh/uv:{version}"
    wheel_name, url, sha256 = uv_wheel(version)
    key = f"{STAND_IN_RECIPE} {wheel_name} {sha256}"

    def make(digest: str) -> None:
        with tempfile.TemporaryDirectory(prefix="stand-in-") as folder:
            context = Path(folder)
            wheel = urllib.request.urlopen(url, timeout=120).read()  # noqa: S310 (https)
            assert hashlib.sha256(wheel).hexdigest() == sha256, f"{wheel_name}: wrong hash"
            with zipfile.ZipFile(io.BytesIO(wheel)) as unpacked:
                for name in ("uv", "uvx"):
                    target = context / name
                    target.write_bytes(unpacked.read(f"uv-{version}.data/scripts/{name}"))
                    target.chmod(0o755)
            (context / "Containerfile").write_text(
                f"FROM scratch\nCOPY uv uvx /\nLABEL {STAND_IN_LABEL}={digest}\n"
            )
            podman_ok("build", *ULIMITS, "--format", "docker", "-t", tag, str(context))

    return stand_in(tag, key, make)


# The images a bake's Dockerfile may name, each with the maker of its stand-in.
STAND_INS: dict[str, Callable[[str], str]] = {
    r"python:(\d+\.\d+)-slim": python_stand_in,
    r"ghcr\.io/astral-sh/uv:(\d+\.\d+\.\d+)": uv_stand_in,
}


def stand_ins_for(dockerfile: Path) -> list[str]:
    """Every image `dockerfile` names (FROM, COPY --from), made here as a stand-in; an
    image without one fails, naming it."""
    text = dockerfile.read_text()
    names = re.findall(r"^FROM\s+(\S+)|--from=(\S+)", text, re.MULTILINE | re.IGNORECASE)
    made = []
    for name in (first or second for first, second in names):
        for pattern, make in STAND_INS.items():
            if found := re.fullmatch(pattern, name):
                made.append(make(found.group(1)))
                break
        else:
            raise AssertionError(f"no stand-in for {name} (tests/support.py: STAND_INS)")
    return made


def uv_wheel(version: str) -> tuple[str, str, str]:
    """(file name, URL, sha256) of the static (musllinux) uv wheel of `version` for this
    machine, from PyPI's simple index."""
    request = urllib.request.Request(
        "https://pypi.org/simple/uv/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
        files = json.load(response)["files"]
    suffix = f"-py3-none-musllinux_1_1_{platform.machine()}.whl"
    for entry in files:
        if entry["filename"] == f"uv-{version}{suffix}":
            return entry["filename"], entry["url"], entry["hashes"]["sha256"]
    raise AssertionError(f"PyPI has no uv-{version}{suffix}")
