"""Deployment files: present exactly when chosen, fully rendered, accepted by the real tool
for each format, and in step with the service (graceful timeout, probe routes, entry points).

No init system, container engine or cluster runs here: systemd-analyze verifies the unit,
and the Dockerfile's command and health check run as PID 1 of a PID namespace, not in a
container. Without either tool these tests skip, and fail under CI (tests/support.py).
"""

from __future__ import annotations

import configparser
import functools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from itertools import product
from pathlib import Path

import pytest
import yaml

from tests.conftest import DEFAULTS
from tests.support import (
    graceful_timeout,
    leftover_template_syntax,
    manifests,
    require_tool,
    run,
    text_files,
    tool,
)

SLUG = "flask_service"
NAME = "flask-service"  # Kubernetes names allow no underscore.
FLAGS = ("include_systemd", "include_docker", "include_kubernetes", "include_github_actions")
# What each prompt adds, stated here rather than read from the hook, so a wrong hook fails.
FILES = {
    "include_systemd": {f"deploy/{SLUG}.service"},
    "include_docker": {"Dockerfile", ".dockerignore"},
    "include_kubernetes": {
        f"deploy/k8s/{kind}.yaml" for kind in ("deployment", "service", "hpa", "pdb")
    },
    "include_github_actions": {".github/workflows/ci.yml", ".github/dependabot.yml"},
}
README_HEADINGS = {
    "include_systemd": "### systemd (Linux)",
    "include_docker": "### Docker",
    "include_kubernetes": "### Kubernetes",
    "include_github_actions": "### GitHub Actions",
}
DEPLOY_FILES = set().union(*FILES.values())
SERVERS = ("gunicorn", "waitress", "granian", "both")


def bake(cookies, **answers: object) -> Path:
    result = cookies.bake(extra_context=answers)
    assert result.exception is None, result.exception
    assert result.exit_code == 0
    return Path(result.project_path)


def relative_files(project: Path) -> set[str]:
    return {path.relative_to(project).as_posix() for path in text_files(project)}


# --- Which files a bake ships: every combination (16 x 4 servers, bake only, ~12 s)

COMBINATIONS = [
    (server, dict(zip(FLAGS, flags, strict=True)))
    for server, flags in product(SERVERS, product((False, True), repeat=len(FLAGS)))
]


@pytest.mark.parametrize(
    ("server", "flags"),
    COMBINATIONS,
    ids=[
        "-".join([server] + [flag.removeprefix("include_") for flag, on in flags.items() if on])
        for server, flags in COMBINATIONS
    ],
)
def test_deploy_files_follow_the_answers(
    cookies, capfd: pytest.CaptureFixture[str], server: str, flags: dict[str, bool]
) -> None:
    # nginx is another prompt's business; off here, so deploy/ holds only these files.
    project = bake(cookies, server=server, include_nginx=False, **flags)
    shipped = relative_files(project)
    wanted = dict(flags)
    if server == "waitress":
        wanted["include_systemd"] = False  # it runs ./start.sh, which waitress lacks
    expected = set().union(*(FILES[flag] for flag, on in wanted.items() if on))
    assert shipped & DEPLOY_FILES == expected
    assert (project / "deploy").exists() is bool(
        expected & {f for f in DEPLOY_FILES if f.startswith("deploy/")}
    )

    note = "include_systemd: skipped" in capfd.readouterr().out
    assert note is (server == "waitress" and flags["include_systemd"])

    leftovers = leftover_template_syntax(project)
    assert not leftovers, "\n".join(leftovers)

    readme = (project / "README.md").read_text()
    deploy = readme[readme.index("## Deploy") : readme.index('## The browser says "CORS error"')]
    assert readme.index("## Check under load") < readme.index("## Deploy")
    for flag, heading in README_HEADINGS.items():
        assert (heading in deploy) is wanted[flag], heading
    assert ("### Windows service" in deploy) is (server != "gunicorn")


# --- One bake per server with everything included, checked by the real tools

FULL = [
    {"server": "gunicorn"},
    {"server": "waitress"},
    # With a database: migrations as a release step in each deployment file.
    {"server": "granian", "database": "postgresql"},
    # A privileged port, a log file and the oldest Python change what the files say.
    {"server": "both", "port": "80", "log_file": True, "python_version": "3.11"},
]


@pytest.fixture(scope="module", params=FULL, ids=lambda answers: answers["server"])
def full(cookies_session, request: pytest.FixtureRequest) -> tuple[Path, dict[str, object]]:
    answers = {**dict.fromkeys(FLAGS, True), **request.param}
    return bake(cookies_session, **answers), answers


def gunicorn_in(answers: dict[str, object]) -> bool:
    return answers["server"] in ("gunicorn", "both")


def start_sh_in(answers: dict[str, object]) -> bool:
    """Gunicorn and Granian start with ./start.sh, which systemd and the image run."""
    return answers["server"] in ("gunicorn", "granian", "both")


def test_dockerfile_passes_hadolint(full) -> None:
    project, _ = full
    result = run([tool("hadolint"), "--no-color", "Dockerfile"], project, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_kubernetes_manifests_pass_strict_schema_validation(full) -> None:
    project, _ = full
    manifests = sorted(str(path) for path in (project / "deploy/k8s").glob("*.yaml"))
    result = run([tool("kubernetes-validate"), "--strict", *manifests], project, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(" passed ") == len(manifests), result.stdout


@pytest.mark.parametrize(
    ("schema", "path"),
    [
        ("vendor.github-workflows", ".github/workflows/ci.yml"),
        ("vendor.dependabot", ".github/dependabot.yml"),
    ],
    ids=["workflow", "dependabot"],
)
def test_github_files_pass_their_schemas(full, schema: str, path: str) -> None:
    project, _ = full
    command = [tool("check-jsonschema"), "--builtin-schema", schema, path]
    result = run(command, project, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dependabot_updates_the_lock_and_what_else_ships(full) -> None:
    project, answers = full
    updates = yaml.safe_load((project / ".github/dependabot.yml").read_text())["updates"]
    ecosystems = {update["package-ecosystem"] for update in updates}
    assert ecosystems == {"uv", "github-actions"} | (
        {"docker"} if answers["include_docker"] else set()
    )


# --- systemd


def read_unit(path: Path) -> configparser.ConfigParser:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # keys are case-sensitive
    unit.read_string(path.read_text())
    return unit


def test_systemd_unit_passes_systemd_analyze_verify(full, tmp_path: Path) -> None:
    project, answers = full
    if not start_sh_in(answers):
        pytest.skip("no systemd unit without start.sh")
    analyze = shutil.which("systemd-analyze")
    require_tool(analyze is not None, "systemd-analyze", "apt-get install systemd")
    assert analyze is not None
    # verify checks that ExecStart exists: point /srv/<slug> at this bake.
    unit = tmp_path / f"{SLUG}.service"
    # The migration step's Python is the virtualenv a deployment creates: this one here.
    text = (project / f"deploy/{SLUG}.service").read_text()
    text = text.replace(f"/srv/{SLUG}/.venv/bin/python", sys.executable)
    unit.write_text(text.replace(f"/srv/{SLUG}", str(project)))
    result = run([analyze, "verify", str(unit)], tmp_path, timeout=60, SYSTEMD_LOG_COLOR="0")
    # An unknown key or a bad value is only a warning to systemd: any output fails.
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), (
        result.stdout + result.stderr
    )


def test_systemd_unit_settings(full) -> None:
    project, answers = full
    if not start_sh_in(answers):
        pytest.skip("no systemd unit without start.sh")
    service = read_unit(project / f"deploy/{SLUG}.service")["Service"]
    home = f"/srv/{SLUG}"
    if gunicorn_in(answers):  # Gunicorn says when it listens; Granian cannot
        assert service["Type"] == "notify" and service["NotifyAccess"] == "main"
    else:
        assert service["Type"] == "exec" and "NotifyAccess" not in service
    assert service["User"] == service["Group"] == SLUG
    assert service["WorkingDirectory"] == home
    assert service["ExecStart"] == f"{home}/start.sh"
    assert service["EnvironmentFile"] == f"{home}/.env"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["Restart"] == "on-failure"
    assert (service["KillSignal"], service["KillMode"]) == ("SIGTERM", "mixed")
    assert int(service["TimeoutStopSec"]) > graceful_timeout(project)
    assert int(service["LimitNOFILE"]) >= 16384
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectControlGroups": "yes",
    }.items():
        assert service[key] == value, key
    # AF_UNIX carries Gunicorn's READY notification.
    assert set(service["RestrictAddressFamilies"].split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}
    if answers.get("log_file"):
        assert service["ReadWritePaths"] == f"{home}/app.log"
    else:
        assert "ReadWritePaths" not in service
    if int(str(answers.get("port", "8080"))) < 1024:
        assert service["AmbientCapabilities"] == "CAP_NET_BIND_SERVICE"
        assert service["CapabilityBoundingSet"] == "CAP_NET_BIND_SERVICE"
    else:
        assert service["CapabilityBoundingSet"] == ""
        assert "AmbientCapabilities" not in service


@pytest.fixture
def notify_socket() -> Iterator[tuple[socket.socket, str]]:
    # A short path: unix socket addresses are limited to about 100 bytes.
    folder = Path(tempfile.mkdtemp(prefix="notify-", dir="/tmp"))
    address = str(folder / "sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(address)
    listener.settimeout(20)
    yield listener, address
    listener.close()
    shutil.rmtree(folder)


def test_start_sh_tells_systemd_when_it_listens(full, launch, notify_socket) -> None:
    # Type=notify: without READY=1 from the main process, systemd kills the service
    # after its start timeout. start.sh execs Gunicorn, which sends it once bound.
    project, answers = full
    if not gunicorn_in(answers):
        pytest.skip("only Gunicorn tells systemd (Type=notify)")
    listener, address = notify_socket
    server = launch(project, ["./start.sh"], WORKERS="1", NOTIFY_SOCKET=address, LOG_FILE="")
    message, _ = listener.recvfrom(4096)
    assert b"READY=1" in message.split(b"\n")
    server.wait_healthy(15)


# --- Docker


def dockerfile(project: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (project / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_dockerfile_layers_user_and_command(full) -> None:
    project, answers = full
    steps = dockerfile(project)
    instructions = [name for name, _ in steps]
    arguments = dict(steps)  # the last of each kind
    version = answers.get("python_version", DEFAULTS["python_version"])
    assert steps[0] == ("FROM", f"python:{version}-slim")
    # The locked dependencies without the dev group, in their own layer, before the code.
    copies = [args for name, args in steps if name == "COPY"]
    assert copies[1:] == ["pyproject.toml uv.lock ./", ". ."]
    assert re.fullmatch(
        r"--from=ghcr\.io/astral-sh/uv:\d+\.\d+\.\d+ /uv /usr/local/bin/uv", copies[0]
    )
    install = steps.index(("RUN", "uv sync --locked --no-dev"))
    assert steps.index(("COPY", copies[1])) < install < steps.index(("COPY", ". ."))
    user = arguments["USER"].split(":")[0]
    assert user.isdigit() and int(user) > 0, "must run as a numeric non-root user"
    assert instructions.index("USER") > steps.index(("COPY", ". ."))
    env = " ".join(args for name, args in steps if name == "ENV")
    # No .pyc written at run time, so they are compiled as uv installs.
    for setting in ("PYTHONDONTWRITEBYTECODE=1", "UV_COMPILE_BYTECODE=1", "PYTHONUNBUFFERED=1"):
        assert setting in env
    assert "HOST=0.0.0.0" in env
    port = str(answers.get("port", "8080"))
    assert f"PORT={port}" in env and arguments["EXPOSE"] == port
    expected = ["./start.sh"] if start_sh_in(answers) else ["python", "wsgi.py"]
    assert json.loads(arguments["CMD"]) == expected
    assert "/healthz" in arguments["HEALTHCHECK"]


def build_context(project: Path) -> set[str]:
    """The files `docker build .` sends, by .dockerignore's rules (last match wins; a
    matched folder excludes all below it)."""
    rules = []
    for raw in (project / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keep = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        regex = "".join(
            ".*"
            if part == "**"
            else "[^/]*"
            if part == "*"
            else "[^/]"
            if part == "?"
            else re.escape(part)
            for part in re.split(r"(\*\*|\*|\?)", pattern)
        )
        rules.append((re.compile(f"{regex}(/.*)?"), keep))
    sent = set()
    for name in relative_files(project) | {".env"}:
        included = True
        for rule, keep in rules:
            if rule.fullmatch(name):
                included = keep
        if included:
            sent.add(name)
    return sent


def test_dockerignore_keeps_secrets_out_and_the_service_in(full, tmp_path: Path) -> None:
    # A copy: the files written here must not reach the module's other tests of `full`.
    project = Path(shutil.copytree(full[0], tmp_path / full[0].name, symlinks=True))
    answers = full[1]
    (project / ".venv/bin").mkdir(parents=True, exist_ok=True)
    (project / ".venv/bin/python").write_text("")
    (project / ".git").mkdir(exist_ok=True)
    (project / ".git/config").write_text("")
    (project / "uv.lock").write_text("")  # what `uv lock` writes before a build
    sent = build_context(project)
    for secret in (".env", ".venv/bin/python", ".git/config"):
        assert secret not in sent
    needed = {"app.py", "wsgi.py", "pyproject.toml", "uv.lock", "service/settings.py"}
    if start_sh_in(answers):
        needed.add("start.sh")
    if gunicorn_in(answers):
        needed.add("gunicorn.conf.py")
    assert needed <= sent
    assert not any(name.startswith(("tests/", ".pytest_cache/")) for name in sent)


def image_command(argv: list[str]) -> list[str]:
    """An exec-form command as the image runs it, with this interpreter as `python`."""
    return [sys.executable if argv[0] == "python" else argv[0], *argv[1:]]


@functools.cache
def pid_namespaces_work() -> bool:
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    check = [unshare, "--pid", "--fork", "--kill-child", "true"]
    return run(check, Path.cwd(), timeout=10).returncode == 0


# In a container the command is PID 1, and the kernel gives PID 1 only the signals it
# has a handler for: an unhandled TERM is ignored, not fatal. A new PID namespace
# (needs root) reproduces that. An ordinary process would not show it, so without PID
# namespaces these tests skip (fail under CI) rather than run as one.
def start_as_pid_1(launch, project: Path, command: list[str], **env: str):
    """`command` started by `launch`, as PID 1 of its own PID namespace; returns the
    launched process and the host PID of `command` itself."""
    require_tool(
        pid_namespaces_work(),
        "PID namespaces (unshare --pid --fork)",
        "run as root, with util-linux's unshare",
    )
    # --kill-child: the command dies with unshare, whatever it does with signals.
    server = launch(project, ["unshare", "--pid", "--fork", "--kill-child", *command], **env)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == server.process.pid:  # its parent is unshare
                return server, int(stat.parent.name)
        time.sleep(0.05)
    pytest.fail("unshare started no child")


def test_pid_1_ignores_a_signal_it_has_no_handler_for(launch, tmp_path: Path) -> None:
    # Proof that start_as_pid_1 reproduces a container: plain Python ignores TERM there.
    sleeper = [sys.executable, "-c", "import time; time.sleep(30)"]
    server, pid = start_as_pid_1(launch, tmp_path, sleeper)
    # The signal must reach Python, not unshare's forked child before it execs Python.
    python = Path(sys.executable).resolve()
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}/exe").resolve() != python:
        assert time.monotonic() < deadline, "the sleeper never started Python"
        time.sleep(0.02)
    os.kill(pid, signal.SIGTERM)
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            server.process.wait(timeout=2)
    finally:
        os.kill(pid, signal.SIGKILL)  # unshare blocks TERM while it waits for its child
        server.process.wait(timeout=10)


def test_docker_command_serves_passes_its_health_check_and_stops(full, launch) -> None:
    # What the container runs, minus the container: CMD with the image's environment,
    # the HEALTHCHECK command against it, then STOPSIGNAL to the main process as PID 1.
    project, _ = full
    steps = dict(dockerfile(project))
    command = image_command(json.loads(steps["CMD"]))
    check = image_command(json.loads(steps["HEALTHCHECK"].split(" CMD ", 1)[1]))
    stop = getattr(signal, steps.get("STOPSIGNAL", "SIGTERM"))
    env = {"LOG_FILE": "", "WORKERS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    if (project / "service/db.py").exists():  # required; nothing connects before a request
        env["DATABASE_URL"] = "postgresql://app@127.0.0.1:9/app"
    server, pid = start_as_pid_1(launch, project, command, **env)
    server.wait_healthy(15)
    healthy = run(check, project, timeout=10, PORT=str(server.port))
    assert healthy.returncode == 0, healthy.stderr

    os.kill(pid, stop)  # Docker signals PID 1 only, not the group
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{stop.name} did not stop {command} within 10 s:\n{server.output()}")
    unhealthy = run(check, project, timeout=10, PORT=str(server.port))
    assert unhealthy.returncode != 0, "the health check passes with nothing listening"


def test_migrations_run_once_per_release_never_in_a_worker(full) -> None:
    """systemd migrates before the service starts, Kubernetes in an init container with the
    same image and secret; the image's command and the workers never migrate."""
    project, answers = full
    database = answers.get("database") == "postgresql"
    upgrade = "flask --app app db upgrade"
    if start_sh_in(answers):  # the systemd unit runs start.sh
        unit = (project / f"deploy/{SLUG}.service").read_text()
        pre = [line for line in unit.splitlines() if line.startswith("ExecStartPre=")]
        assert [line.endswith(f"-m {upgrade}") for line in pre] == ([True] if database else [])
    assert "db upgrade" not in dict(dockerfile(project))["CMD"]
    pod = manifests(project)["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    init = pod.get("initContainers", [])
    assert [" ".join(c["command"]) for c in init] == ([f"python -m {upgrade}"] if database else [])
    for migrating in init:
        assert migrating["image"] == container["image"]
        names = {item["name"]: item for item in migrating["env"]}
        assert names["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
            "name": NAME,
            "key": "DATABASE_URL",
        }
    for path in (project / "service").glob("*.py"):
        assert "upgrade(" not in path.read_text(), f"{path.name} migrates in a worker"


# --- Kubernetes


def test_kubernetes_shutdown_outlasts_the_pause_and_the_graceful_timeout(full) -> None:
    project, _ = full
    pod = manifests(project)["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    pre_stop = container["lifecycle"]["preStop"]
    if "sleep" in pre_stop:
        pause = int(pre_stop["sleep"]["seconds"])
    else:
        command = pre_stop["exec"]["command"]
        assert command[0] == "sleep", command
        pause = int(command[1])
    assert pause >= 3, "the endpoint needs a few seconds to leave the Service"
    assert pod["terminationGracePeriodSeconds"] > pause + graceful_timeout(project)


def test_kubernetes_probes_ports_and_secret(full) -> None:
    project, answers = full
    kinds = manifests(project)
    assert "Secret" not in kinds, "a Secret with a value must never ship"
    deployment = kinds["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"http": int(str(answers.get("port", "8080")))}
    probes = {kind: container[f"{kind}Probe"]["httpGet"] for kind in ("liveness", "readiness")}
    assert probes["liveness"]["path"] == "/healthz"
    assert probes["readiness"]["path"] == "/readyz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert {probe["port"] for probe in probes.values()} == {"http"}
    env = {item["name"]: item for item in container["env"]}
    assert env["SECRET_KEY"]["valueFrom"]["secretKeyRef"] == {"name": NAME, "key": "SECRET_KEY"}
    assert "value" not in env["SECRET_KEY"]
    for limits in ("requests", "limits"):
        assert set(container["resources"][limits]) == {"cpu", "memory"}
    privileged_port = int(str(answers.get("port", "8080"))) < 1024
    sysctls = pod["securityContext"].get("sysctls", [])
    assert bool(sysctls) is privileged_port

    service = kinds["Service"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert {port["targetPort"] for port in service["spec"]["ports"]} == {"http"}


def test_kubernetes_pod_runs_locked_down(full) -> None:
    project, _ = full
    pod = manifests(project)["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"]["drop"] == ["ALL"]
    # Read-only root: /tmp (request bodies spooled by Werkzeug) is an emptyDir.
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]  # noqa: S108


def test_kubernetes_autoscaler_scales_the_deployment_on_cpu(full) -> None:
    project, _ = full
    kinds = manifests(project)
    hpa = kinds["HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": NAME,
    }
    assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    # The autoscaler owns the replica count; a fixed one would be reset on every apply.
    assert "replicas" not in kinds["Deployment"]["spec"]


# --- GitHub Actions


def test_workflow_lints_and_tests_on_the_chosen_python(full) -> None:
    project, answers = full
    workflow = yaml.safe_load((project / ".github/workflows/ci.yml").read_text())
    jobs = workflow["jobs"]
    runners = {}
    for name, job in jobs.items():
        # uv picks the Python from .python-version, and installs the lock once committed.
        setup = next(
            step for step in job["steps"] if step.get("uses", "").startswith("astral-sh/setup-uv@")
        )
        assert setup["with"]["enable-cache"] is True, name
        assert "timeout-minutes" in job, name
        runs = [step.get("run") for step in job["steps"] if "run" in step]
        assert runs[0] == "if [ -f uv.lock ]; then uv sync --locked; else uv sync; fi", name
        runners[name] = (job["runs-on"], runs)
    version = answers.get("python_version", DEFAULTS["python_version"])
    assert (project / ".python-version").read_text().strip() == version
    commands = [command for _, runs in runners.values() for command in runs]
    assert "uv run ruff check ." in commands
    assert "uv run ruff format --check ." in commands
    testing = {runner for runner, runs in runners.values() if "uv run pytest" in runs}
    expected = (
        {"ubuntu-latest", "windows-latest"}
        if answers["server"] != "gunicorn"
        else {"ubuntu-latest"}
    )
    assert testing == expected


# --- Windows


def test_windows_launchers_run_wsgi_py_from_their_own_folder(full) -> None:
    # cd first: .env and the relative .venv path are found wherever they are started from.
    project, answers = full
    if answers["server"] == "gunicorn":
        pytest.skip("no Windows launcher")
    ps1 = (project / "start.ps1").read_text()
    assert ps1.index("Set-Location -Path $PSScriptRoot") < ps1.index("wsgi.py")
    assert "$env:PYTHON" in ps1 and ".venv\\Scripts\\python.exe" in ps1
    bat = (project / "start.bat").read_text()
    assert bat.index('cd /d "%~dp0"') < bat.index("wsgi.py")
    assert "PYTHON" in bat and ".venv\\Scripts\\python.exe" in bat


def test_readme_windows_service_config_runs_the_venv_and_wsgi_py(full) -> None:
    project, answers = full
    if answers["server"] == "gunicorn":
        pytest.skip("no Windows service without Waitress")
    readme = (project / "README.md").read_text()
    xml = re.search(r'@"\n(<service>.*?</service>)\n"@', readme, re.DOTALL)
    assert xml, "no WinSW configuration in the README"
    service = ElementTree.fromstring(xml.group(1))  # noqa: S314 (the generated README)
    assert service.findtext("executable") == r"%BASE%\.venv\Scripts\python.exe"
    assert service.findtext("arguments") == "wsgi.py"
    assert service.findtext("workingdirectory") == "%BASE%"
    assert service.findtext("logpath")
    assert service.find("onfailure").get("action") == "restart"
    assert f"{SLUG}-service.exe install" in readme
