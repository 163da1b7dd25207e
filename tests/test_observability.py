"""Every request can be followed from the browser to the log: request IDs, one access-log
line per request (text or JSON, the same under every launcher), exceptions logged once."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPMessage
from pathlib import Path

import pytest

from tests.support import FAULT_LAUNCHERS, Burst, Launched, finish_burst, raw_request

ORIGIN = "http://localhost:5173"
TEXT_ACCESS = re.compile(
    r" access \[(?P<request_id>[^\]]+)\]: (?P<method>\S+) (?P<path>\S+) (?P<status>\d+) "
    r"(?P<duration_ms>[\d.]+)ms client=(?P<client>\S+) origin=(?P<origin>\S+)$"
)
# (name, method, path, extra headers, status)
REQUESTS = [
    ("preflight", "OPTIONS", "/api/hello", {"Access-Control-Request-Method": "GET"}, 200),
    ("get", "GET", "/api/hello", {}, 200),
    ("not-found", "GET", "/no/such/route", {}, 404),
    ("error", "GET", "/test/boom", {}, 500),
]
HOSTILE_IDS = ["x" * 200, "two words", "ctl\x01char", "<script>alert(1)</script>"]


def send(port: int, method: str, path: str, **headers: str) -> tuple[int, HTTPMessage]:
    """Status and headers of one request from the page's origin."""
    return raw_request(port, method, path, **{"Origin": ORIGIN, **headers})[:2]


def wait_for_the_log(server: Launched) -> str:
    """The output once every line logged so far is in it: one more request, whose access
    line the process writes after theirs."""
    send(server.port, "GET", "/healthz", **{"X-Request-ID": "log-written"})
    return server.wait_for_output("log-written")


def access_lines(output: str, log_format: str) -> dict[str, dict[str, object]]:
    """The access-log records in `output`, by request ID, in the fields JSON uses."""
    found = {}
    for line in output.splitlines():
        if log_format == "json":
            if line.startswith("{") and (record := json.loads(line))["logger"] == "access":
                found[record["request_id"]] = record
        elif match := TEXT_ACCESS.search(line):
            record = match.groupdict()
            found[record["request_id"]] = {**record, "status": int(record["status"])}
    return found


@pytest.mark.parametrize("log_format", ["json", "text"])
@pytest.mark.parametrize("launcher", FAULT_LAUNCHERS)
def test_each_request_is_one_access_line_with_its_request_id(
    launch_fault_app: Callable[..., Launched], launcher: str, log_format: str
) -> None:
    server = launch_fault_app(launcher, WORKERS="1", LOG_FORMAT=log_format)
    server.wait_healthy(seconds=15)
    for name, method, path, headers, status in REQUESTS:
        answer, got = send(
            server.port, method, path, **{"X-Request-ID": f"trace-{name}"}, **headers
        )
        assert answer == status
        assert got["X-Request-ID"] == f"trace-{name}"
        assert "X-Request-ID" in got.get("Access-Control-Expose-Headers", "")
    output = wait_for_the_log(server)
    lines = access_lines(output, log_format)

    for name, method, path, _, status in REQUESTS:
        record = lines[f"trace-{name}"]
        assert (record["method"], record["path"], record["status"]) == (method, path, status)
        assert float(record["duration_ms"]) >= 0
        assert (record["client"], record["origin"]) == ("127.0.0.1", ORIGIN)
        assert output.count(f"trace-{name}") == (2 if name == "error" else 1), (
            "one access line per request, plus one exception record for the error"
        )
    exception = [line for line in output.splitlines() if "Exception on /test/boom" in line]
    assert len(exception) == 1 and "trace-error" in exception[0]
    if log_format == "json":  # the traceback in its own field, under every launcher
        record = json.loads(exception[0])
        assert record["message"] == "Exception on /test/boom [GET]"
        assert "Traceback" in record["exc_info"]
    assert "deliberate failure" in output  # logged with its traceback, never in the response


@pytest.mark.parametrize(
    ("launcher", "worker_class"),
    [("gunicorn", "gthread"), ("gunicorn", "gevent"), ("waitress", "-"), ("granian", "-")],
)
def test_concurrent_requests_keep_their_own_ids(
    launch_fault_app: Callable[..., Launched], launcher: str, worker_class: str
) -> None:
    """20 requests overlap in one process (threads, or greenlets under gevent); each
    access line must carry its own request's ID, never a neighbour's."""
    server = launch_fault_app(
        launcher,
        WORKERS="1",
        WORKER_CLASS=worker_class if launcher == "gunicorn" else "gthread",
        LOG_FORMAT="json",
    )
    server.wait_healthy(seconds=15)
    sent = [f"overlap-{number}" for number in range(20)]
    with ThreadPoolExecutor(len(sent)) as pool:
        answers = list(
            pool.map(
                lambda trace: send(
                    server.port, "GET", "/test/slow?seconds=0.3", **{"X-Request-ID": trace}
                ),
                sent,
            )
        )
    assert [status for status, _ in answers] == [200] * len(sent)
    lines = access_lines(wait_for_the_log(server), "json")
    # Records are keyed by ID: two lines with one ID would leave another ID missing.
    logged = [trace for trace, line in lines.items() if line["path"] == "/test/slow"]
    assert sorted(logged) == sorted(sent)


def assert_not_echoed(response: bytes, forged: bytes) -> None:
    """The whole raw `response` to a request carrying `forged`: refused (400) or given a
    fresh ID, with `forged` in no header (no line smuggled into the response) and in no
    HTML body. (Waitress's own text/plain 400 quotes the bad header line back to the
    client that sent it: inert text, so a plain-text body is not checked.)"""
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1."), response
    assert forged.lower() not in head.lower(), response
    status = int(head.split()[1])
    fresh_id = re.search(rb"(?im)^x-request-id: [0-9a-f]{32}\r?$", head)
    assert status == 400 or (status < 500 and fresh_id), response
    if re.search(rb"(?im)^content-type: text/html", head):
        assert forged.lower() not in body.lower(), response


@pytest.mark.parametrize("launcher", FAULT_LAUNCHERS)
def test_hostile_request_ids_are_replaced_never_echoed_or_logged(
    launch_fault_app: Callable[..., Launched], launcher: str
) -> None:
    server = launch_fault_app(launcher, WORKERS="1", LOG_FORMAT="json")
    server.wait_healthy(seconds=15)
    for hostile in HOSTILE_IDS:
        status, got = send(server.port, "GET", "/api/hello", **{"X-Request-ID": hostile})
        replaced = got.get("X-Request-ID")
        print(f"{launcher}: {hostile[:20]!r} -> {status} {replaced}")
        if status == 400 and replaced is None:
            continue  # the server itself refused the header: it never reached the app
        assert re.fullmatch(r"[0-9a-f]{32}", replaced or ""), replaced
    # A forged log line smuggled in with a bare newline: refused, or kept out of the log.
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
        raw.sendall(
            b"GET /api/hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"X-Request-ID: a\nFORGED-LINE\r\n\r\n"
        )
        response = b"".join(iter(lambda: raw.recv(65536), b""))
    print(f"{launcher}: forged line -> {response[:200]!r}")
    assert_not_echoed(response, b"FORGED-LINE")
    output = wait_for_the_log(server)
    for hostile in [*HOSTILE_IDS, "FORGED-LINE"]:
        assert hostile not in output


@pytest.mark.parametrize("server_answer", ["gunicorn", "granian"])
def test_metrics_add_up_across_workers(
    cookies, launch: Callable[..., Launched], burst: Callable[..., Burst], server_answer: str
) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    result = cookies.bake(extra_context={"server": server_answer, "include_metrics": True})
    assert result.exit_code == 0, result.exception
    project = Path(result.project_path)
    server = launch(project, ["./start.sh"], WORKERS="3")
    server.wait_healthy(seconds=15)
    summary = finish_burst(burst(project, server.url + "/api/hello", pages=20, parallel=8))
    assert summary["failed_pairs"] == 0

    status, headers, body = raw_request(server.port, "GET", "/metrics", Origin=ORIGIN)
    assert status == 200
    assert "Access-Control-Allow-Origin" not in headers
    text = body.decode()
    counts = {
        (sample.labels["method"], sample.labels["status"]): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "http_requests_total" and sample.labels["route"] == "/api/hello"
    }
    print(f"metrics after a 160-pair burst on 3 workers: {counts}")
    # Every preflight and GET of the burst, plus the load check's opening probe GET:
    # only the sum over all three workers' files adds up to this.
    assert counts == {("OPTIONS", "200"): 160.0, ("GET", "200"): 161.0}
