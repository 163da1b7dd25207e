"""The image, built and run: each server's bake, from its own unchanged Dockerfile, built
with podman and run with the security settings its Kubernetes Deployment declares (read
from deploy/k8s/deployment.yaml), answers /healthz and its HEALTHCHECK, holds the bake's
own load check, stops on TERM within GRACEFUL_TIMEOUT, and ships no .env, secret or
development tool in any layer.

The base images are stand-ins made by tests/support.py, under the tags the Dockerfile
names, since no registry is reachable here: `python:3.11-slim` is Debian bookworm with
Debian's Python at /usr/bin/python3 (the official image has its own CPython at
/usr/local/bin/python), plus this machine's CA bundle; `ghcr.io/astral-sh/uv:<v>` holds
the uv binary of PyPI's wheel of that version. They are made once per machine, then kept.

Marked `container`: the default run deselects these (pyproject.toml), and `.ci/run` runs
them as a step of their own, one image at a time: `scripts/test -m container -n 0
tests/test_container.py`. (Two builds at once on vfs storage took longer than one after
the other on two cores, and starved the load check of the image under test.)
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tarfile
import time
import tomllib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import (
    ULIMITS,
    Burst,
    finish_burst,
    free_port,
    graceful_timeout,
    manifests,
    podman,
    podman_ok,
    raw_request,
    require_podman,
    run,
    stand_ins_for,
    tool,
)

pytestmark = pytest.mark.container

SERVERS = ("gunicorn", "waitress", "granian")
# The machine's Python, which the Debian stand-in of python:<version>-slim has.
PYTHON_VERSION = "3.11"
# The load check through the container: 100 pages of 8 parallel calls, 800 pairs.
BURST_PAGES, BURST_PARALLEL = 100, 8
# Waitress has no drain (GRACEFUL_TIMEOUT is 0): TERM stops it at once, within this.
WAITRESS_STOP_SECONDS = 5
# A secret the manifest takes from a Kubernetes Secret: the test's own values.
SECRETS = {"SECRET_KEY": "container-test-" + "k" * 40}


@dataclass
class Image:
    tag: str
    project: Path
    server: str


@pytest.fixture(scope="module", params=SERVERS)
def image(cookies_session, request: pytest.FixtureRequest) -> Iterator[Image]:
    """The bake's image, built from its own Dockerfile after `uv lock`; removed at the end."""
    require_podman()
    server = request.param
    answers = {"server": server, "include_kubernetes": True, "python_version": PYTHON_VERSION}
    result = cookies_session.bake(extra_context=answers)
    assert result.exit_code == 0, result.exception
    project = Path(result.project_path)
    stand_ins_for(project / "Dockerfile")
    locked = run([tool("uv"), "lock", "--quiet"], project)
    assert locked.returncode == 0, locked.stdout + locked.stderr
    tag = f"localhost/flask-prod-test/{server}:{uuid.uuid4().hex[:8]}"
    build = ["build", *ULIMITS, "--pull=never", "--network", "host", "--format", "docker"]
    started = time.monotonic()
    podman_ok(*build, "--tag", tag, str(project), timeout=900)
    size = int(podman_ok("image", "inspect", "--format", "{{.Size}}", tag).strip())
    print(f"{server}: built in {time.monotonic() - started:.0f} s, {size / 1e6:.0f} MB")
    yield Image(tag, project, server)
    podman("rmi", "--force", tag)


# --- The Deployment's settings, as podman options


def deployment_pod(project: Path) -> tuple[dict, dict]:
    """The Deployment's pod spec and its one container."""
    pod = manifests(project)["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    return pod, container


def mebibytes(quantity: str) -> int:
    """A Kubernetes memory quantity in Mi or Gi as mebibytes."""
    number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", quantity).groups()  # type: ignore[union-attr]
    return int(number) * (1024 if unit == "Gi" else 1)


def run_options(project: Path, host_port: int) -> list[str]:
    """`podman run` options for what the Deployment declares: its user, security context,
    volumes, environment (secrets from SECRETS), limits and port. A setting this does not
    know fails the test rather than being left out."""
    pod, container = deployment_pod(project)
    pod_security = dict(pod["securityContext"])
    security = dict(container["securityContext"])
    user, group = pod_security.pop("runAsUser"), pod_security.pop("runAsGroup")
    if pod_security.pop("runAsNonRoot"):
        assert user != 0, "runAsNonRoot with user 0"
    options = ["--user", f"{user}:{group}"]
    # RuntimeDefault is podman's own default seccomp profile: nothing to add.
    assert pod_security.pop("seccompProfile") == {"type": "RuntimeDefault"}
    for sysctl in pod_security.pop("sysctls", []):
        options += ["--sysctl", f"{sysctl['name']}={sysctl['value']}"]
    if security.pop("readOnlyRootFilesystem"):
        options.append("--read-only")
    if security.pop("allowPrivilegeEscalation") is False:
        options += ["--security-opt", "no-new-privileges"]
    capabilities = security.pop("capabilities")
    options += [f"--cap-drop={name}" for name in capabilities.pop("drop", [])]
    options += [f"--cap-add={name}" for name in capabilities.pop("add", [])]
    unknown = {**pod_security, **security, **capabilities}
    assert not unknown, f"the Deployment declares what this test does not apply: {unknown}"

    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    for mount in container["volumeMounts"]:
        empty_dir = volumes[mount["name"]]["emptyDir"]  # the only kind a pod here mounts
        size = f",size={mebibytes(empty_dir['sizeLimit'])}m" if "sizeLimit" in empty_dir else ""
        options += ["--tmpfs", f"{mount['mountPath']}:rw{size}"]
    for item in container["env"]:
        value = (
            item["value"] if "value" in item else SECRETS[item["valueFrom"]["secretKeyRef"]["key"]]
        )
        options += ["--env", f"{item['name']}={value}"]
    limits = container["resources"]["limits"]
    options += ["--cpus", str(limits["cpu"]), "--memory", f"{mebibytes(limits['memory'])}m"]
    (port,) = container["ports"]
    options += ["--publish", f"127.0.0.1:{host_port}:{port['containerPort']}"]
    return options


def startup_seconds(project: Path) -> float:
    """How long the Deployment's startupProbe lets the container take to answer."""
    probe = deployment_pod(project)[1]["startupProbe"]
    return probe["periodSeconds"] * probe["failureThreshold"]


@dataclass
class Container:
    name: str
    port: int
    image: Image

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self) -> str:
        done = podman("logs", self.name, timeout=60)
        return done.stdout + done.stderr

    def wait_healthy(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            state = podman_ok("inspect", "--format", "{{.State.Status}}", self.name).strip()
            if state != "running":
                pytest.fail(f"container {state}:\n{self.logs()}")
            try:
                if raw_request(self.port, "GET", "/healthz", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        pytest.fail(f"no 200 on /healthz within {seconds} s:\n{self.logs()}")


def start_container(image: Image) -> Container:
    """The image running as the Deployment declares, answering on a free port."""
    started = Container(
        f"flask-prod-test-{image.server}-{uuid.uuid4().hex[:8]}", free_port(), image
    )
    options = run_options(image.project, started.port)
    done = podman("run", "--detach", "--name", started.name, *ULIMITS, *options, image.tag)
    if done.returncode != 0:  # a container podman created before failing stays: remove it
        podman("rm", "--force", "--time", "0", started.name, timeout=120)
        pytest.fail(f"podman run failed:\n{done.stdout}{done.stderr}")
    return started


@pytest.fixture
def launch_container() -> Iterator[Callable[[Image], Container]]:
    """launch_container(image): a container of `image`, removed at teardown."""
    launched: list[Container] = []

    def launch(image: Image) -> Container:
        launched.append(start_container(image))
        return launched[-1]

    yield launch
    for container in launched:
        podman("rm", "--force", "--time", "0", container.name, timeout=120)


@pytest.fixture(scope="module")
def container(image: Image) -> Iterator[Container]:
    """One running container of the module's image, shared by the tests that only ask it."""
    running = start_container(image)
    try:
        running.wait_healthy(startup_seconds(image.project))
        yield running
    finally:
        podman("rm", "--force", "--time", "0", running.name, timeout=120)


# --- The image's layers


def layer_members(image: Image, into: Path) -> Iterator[tuple[tarfile.TarFile, tarfile.TarInfo]]:
    """Every entry of every layer of the image (a file a later layer deletes included)."""
    archive = into / "image.tar"
    podman_ok("save", "--format", "docker-archive", "--output", str(archive), image.tag)
    with tarfile.open(archive) as saved:
        layers = [name for name in saved.getnames() if name.endswith(".tar")]
        assert layers, saved.getnames()
        for name in layers:
            member = saved.extractfile(name)
            assert member is not None
            with tarfile.open(fileobj=member, mode="r|") as layer:
                for entry in layer:
                    yield layer, entry


def development_tools(project: Path) -> set[str]:
    """The distribution names of the bake's dev group, normalised as dist-info names are."""
    groups = tomllib.loads((project / "pyproject.toml").read_text())["dependency-groups"]
    names = {re.split(r"[<>=!~\[; ]", entry, maxsplit=1)[0] for entry in groups["dev"]}
    return {re.sub(r"[-_.]+", "_", name).lower() for name in names}


def test_no_env_secret_or_development_tool_in_any_layer(image: Image, tmp_path: Path) -> None:
    # The bake holds a .env with its SECRET_KEY (the post-generation hook writes it) and
    # the dev group in its uv.lock: .dockerignore and `uv sync --no-dev` keep both out.
    key = re.search(r"^SECRET_KEY=(.+)$", (image.project / ".env").read_text(), re.MULTILINE)
    assert key, "the bake has no .env with a SECRET_KEY"
    secret = key.group(1).strip().encode()
    tools = development_tools(image.project)
    assert {"pytest", "ruff"} <= tools
    dist_info = re.compile(r"site-packages/([^/]+)-[^/-]+\.dist-info/METADATA$")
    installed, env_files, holding_secret, app_files = set(), [], [], set()
    app_source = b""
    for layer, entry in layer_members(image, tmp_path):
        name = entry.name.removeprefix("./")
        if Path(name).name in (".env", ".wh..env") or Path(name).name.startswith(".env."):
            env_files.append(name)
        if found := dist_info.search(name):
            installed.add(re.sub(r"[-_.]+", "_", found.group(1)).lower())
        if name.startswith("app/") and entry.isfile():
            app_files.add(name)
        content = layer.extractfile(entry) if entry.isfile() and entry.size else None
        data = content.read() if content is not None else b""
        if secret in data:
            holding_secret.append(name)
        if name == "app/app.py":
            app_source = data
    assert not env_files
    assert not holding_secret
    assert not tools & installed, f"development tools in the image: {tools & installed}"
    # The scan saw the service, its code and its packages: it would have seen the rest.
    assert {"app/app.py", "app/wsgi.py", "app/uv.lock"} <= app_files
    assert b"def create_app(" in app_source
    assert {"flask", image.server} <= installed
    assert not any(name.startswith(("app/tests/", "app/.git/")) for name in app_files)


def test_image_user_is_the_deployments_non_root_user(image: Image) -> None:
    pod, _ = deployment_pod(image.project)
    user = podman_ok("image", "inspect", "--format", "{{.Config.User}}", image.tag).strip()
    security = pod["securityContext"]
    assert user == f"{security['runAsUser']}:{security['runAsGroup']}"


# --- Running as the Deployment declares


def test_healthz_and_the_images_healthcheck_answer(container: Container) -> None:
    status, _, body = raw_request(container.port, "GET", "/healthz")
    assert (status, json.loads(body)["status"]) == (200, "ok")
    # The HEALTHCHECK the image carries (docker format), run by podman in the container.
    checked = podman("healthcheck", "run", container.name, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr + container.logs()
    # The same command against a port nothing listens on fails: it asks the server.
    test = podman_ok(
        "image", "inspect", "--format", "{{json .Config.Healthcheck.Test}}", container.image.tag
    )
    command = json.loads(test)
    assert command[0] == "CMD", command
    missed = podman("exec", "--env", "PORT=1", container.name, *command[1:], timeout=60)
    assert missed.returncode != 0, "the health check passes with nothing listening"


def test_root_filesystem_is_read_only_and_tmp_writable(container: Container) -> None:
    code = (
        "import os, sys, tempfile\n"
        "tempfile.NamedTemporaryFile(dir='/tmp').close()\n"
        "try:\n    open('/app/written', 'w')\nexcept OSError:\n    sys.exit(0)\n"
        "sys.exit(f'wrote /app as {os.getuid()}')\n"
    )
    done = podman("exec", container.name, "python", "-c", code, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    uid = podman_ok("exec", container.name, "python", "-c", "import os; print(os.getuid())")
    pod, _ = deployment_pod(container.image.project)
    assert int(uid) == pod["securityContext"]["runAsUser"]


def test_load_check_through_the_container_has_no_failure(
    container: Container, burst: Callable[..., Burst]
) -> None:
    process = burst(
        container.image.project, container.url + "/api/hello", BURST_PAGES, BURST_PARALLEL
    )
    summary = finish_burst(process, seconds=180)
    assert summary["pairs"] == BURST_PAGES * BURST_PARALLEL
    assert summary["failed_pairs"] == 0, (summary, container.logs()[-3000:])


def test_term_stops_it_within_the_graceful_timeout(
    image: Image, launch_container: Callable[[Image], Container]
) -> None:
    running = launch_container(image)
    running.wait_healthy(startup_seconds(image.project))
    bound = graceful_timeout(image.project) or WAITRESS_STOP_SECONDS
    started = time.monotonic()
    podman_ok("kill", "--signal", "TERM", running.name)
    try:
        status = podman_ok("wait", running.name, timeout=bound).strip()
    except subprocess.TimeoutExpired:
        pytest.fail(f"TERM did not stop it within {bound} s:\n{running.logs()}")
    elapsed = time.monotonic() - started
    # 0: the server handled TERM and exited; 143 would be a death by the signal.
    assert status == "0", f"exit status {status}:\n{running.logs()}"
    print(f"{image.server}: stopped {elapsed:.1f} s after TERM (bound {bound} s)", file=sys.stderr)
