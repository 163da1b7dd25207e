"""In a real browser, a baked service serves the page pattern that broke: a Promise.all burst.

The original failure was only visible in a browser: a page firing parallel cross-origin
fetch() calls, each with an Authorization header and so each after a CORS preflight,
saw some of them fail as "blocked by CORS policy". Here headless Chromium (Debian's
`chromium`, driven by Playwright) loads a page from one origin (a static server on
http://localhost:P) and fires the burst at a baked service on another origin
(http://127.0.0.1:S) under each launcher. The same page served as http://127.0.0.1:P is
an origin the service does not allow.
"""

from __future__ import annotations

import functools
import http.client
import http.server
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.client import HTTPMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.support import (
    SHIPPED_START,
    TEMPLATE_DIR,
    Launched,
    free_port,
    raw_request,
    require_tool,
    run,
)

try:
    from playwright.sync_api import Browser, CDPSession, Page, sync_playwright
except ImportError:  # reported by the `browser` fixture, after the chromium check
    sync_playwright = None

CHROMIUM = "/usr/bin/chromium"
# No sandbox: CI containers run as root. The rest keeps Chromium off the network
# (only 127.0.0.1 is reachable here) and its start fast.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
# Each launcher as users start it, in the project that fault_projects() bakes for it.
LAUNCHERS = SHIPPED_START
STARTUP_SECONDS = 10.0
# The page pattern that broke: this many fetch() calls at once, in Promise.all, per round.
PARALLEL = 16
ROUNDS = 3
# Without Access-Control-Max-Age Chromium still caches a preflight for 5 s, so rounds
# run back to back would pass without the header. The last round waits past that
# default: only the service's Max-Age (600 s) can still spare its preflights.
# (Checked: with CORS_MAX_AGE=0 the last round sends all 16 preflights again.)
CHROMIUM_DEFAULT_PREFLIGHT_SECONDS = 5.0
PAUSE_BEFORE_LAST_ROUND = CHROMIUM_DEFAULT_PREFLIGHT_SECONDS + 0.5
# In-page bound on each fetch(), so a stuck request fails the test instead of hanging it.
REQUEST_TIMEOUT_MS = 10_000
CORS_BLOCKED = "has been blocked by CORS policy"

# The test page. Each request of a round gets its own URL (?request=i) because Chromium
# caches preflights per URL and does not share one in flight: round 1 then sends exactly
# PARALLEL preflights, and a cached round exactly none. No `cache: "no-store"`: Chromium
# skips the preflight cache for such requests.
BURST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Promise.all burst</title>
<link rel="icon" href="data:,"></head><body>
<script>
async function burst(url, parallel, credentials, timeoutMs, extraHeaders = {}) {
  const requests = Array.from({ length: parallel }, async (_, i) => {
    const response = await fetch(`${url}?request=${i}`, {
      headers: { Authorization: "Bearer browser-test", ...extraHeaders },
      credentials,
      signal: AbortSignal.timeout(timeoutMs),
    });
    return { status: response.status, body: await response.json() };
  });
  const all = Promise.all(requests);
  const settled = await Promise.allSettled(requests);
  let allResolved = true;
  try { await all; } catch { allResolved = false; }
  return {
    allResolved,
    outcomes: settled.map((outcome) => outcome.status === "fulfilled"
      ? { ok: true, ...outcome.value }
      : { ok: false, error: `${outcome.reason.name}: ${outcome.reason.message}` }),
  };
}
</script></body></html>
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium; a missing one is a skip on a laptop and a failure in CI."""
    require_tool(os.access(CHROMIUM, os.X_OK), CHROMIUM, "apt-get install chromium")
    if sync_playwright is None:
        pytest.fail("playwright is not installed: uv sync")
    # Never `playwright install`: its browser downloads are not needed, Debian's is used.
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000
        )
        try:
            yield chromium
        finally:
            chromium.close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # the page loads are not what a failing test needs to show


@dataclass
class StaticSite:
    """The test pages on 127.0.0.1:port, reachable as an allowed and a refused origin."""

    root: Path
    port: int

    @property
    def allowed_origin(self) -> str:
        return f"http://localhost:{self.port}"

    @property
    def refused_origin(self) -> str:
        # Same server, but another host name is another origin.
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, fault_projects: Callable[[str], Path]
) -> Iterator[StaticSite]:
    """The burst page and the project's own tools/cors-check.html, served in a thread."""
    root = tmp_path_factory.mktemp("site")
    (root / "burst.html").write_text(BURST_PAGE, encoding="utf-8")
    tools = fault_projects("gunicorn") / "tools"
    shutil.copy(tools / "cors-check.html", root / "cors-check.html")
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield StaticSite(root, server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass
class Round:
    all_resolved: bool
    outcomes: list[dict[str, Any]]
    preflights: list[str]

    @property
    def resolved(self) -> int:
        return sum(outcome["ok"] for outcome in self.outcomes)


@dataclass
class Tab:
    """A page in a fresh browser context, recording console, page errors and preflights."""

    page: Page
    cdp: CDPSession
    console: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    preflights: list[str] = field(default_factory=list)

    def record(self) -> None:
        # Chromium's own console lines (CORS errors, failed loads) arrive here too.
        self.page.on("console", lambda line: self.console.append(f"{line.type}: {line.text}"))
        self.page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        # Playwright's page.on("request") never reports CORS preflights in Chromium (it
        # saw only the GETs). The DevTools protocol does: an OPTIONS request whose
        # initiator type is "preflight" (its resource type is "Other", not "Preflight").
        self.cdp.send("Network.enable")
        self.cdp.on("Network.requestWillBeSent", self._on_request)

    def _on_request(self, event: dict[str, Any]) -> None:
        if event["request"]["method"] == "OPTIONS" and event["initiator"]["type"] == "preflight":
            self.preflights.append(event["request"]["url"])

    def sync_events(self) -> None:
        # A round trip on the same DevTools session: every event the browser sent
        # before it (this round's preflights) has been delivered when it returns.
        self.cdp.send("Runtime.evaluate", {"expression": "0"})

    def burst(
        self, url: str, credentials: str = "same-origin", headers: dict[str, str] | None = None
    ) -> Round:
        already = len(self.preflights)
        result = self.page.evaluate(
            "([url, parallel, credentials, timeout, headers]) =>"
            " burst(url, parallel, credentials, timeout, headers)",
            [url, PARALLEL, credentials, REQUEST_TIMEOUT_MS, headers or {}],
        )
        self.sync_events()
        return Round(result["allResolved"], result["outcomes"], self.preflights[already:])

    def errors(self) -> list[str]:
        return [line for line in self.console if line.startswith("error:")] + self.page_errors


@pytest.fixture
def open_tab(browser: Browser) -> Iterator[Callable[[str], Tab]]:
    """Open a URL in its own browser context (own preflight cache); closed at teardown."""
    contexts = []

    def open_url(url: str) -> Tab:
        context = browser.new_context()
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        tab = Tab(page, context.new_cdp_session(page))
        tab.record()
        page.goto(url)
        return tab

    yield open_url
    for context in contexts:
        context.close()


def direct_request(method: str, url: str, origin: str) -> HTTPMessage:
    """Response headers for a request carrying `origin`, sent without a browser."""
    headers = {"Origin": origin}
    if method == "OPTIONS":
        headers |= {
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        }
    parts = urlsplit(url)
    return raw_request(parts.port or 80, method, parts.path, **headers)[1]


def start(launch: Callable[..., Launched], project: Path, launcher: str, **env: str) -> Launched:
    """`launcher` of `project`, as users start it, on 2 workers."""
    service = launch(project, LAUNCHERS[launcher], WORKERS="2", **env)
    service.wait_healthy(seconds=STARTUP_SECONDS)
    return service


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_promise_all_burst_resolves_and_preflights_are_cached(
    launch: Callable[..., Launched],
    open_tab: Callable[[str], Tab],
    fault_projects: Callable[[str], Path],
    site: StaticSite,
    launcher: str,
) -> None:
    """Every round of 16 parallel fetches resolves; only the first round preflights."""
    service = start(launch, fault_projects(launcher), launcher, CORS_ORIGINS=site.allowed_origin)
    api = service.url + "/api/hello"
    tab = open_tab(site.allowed_origin + "/burst.html")

    rounds = []
    for number in range(1, ROUNDS + 1):
        if number == ROUNDS:
            time.sleep(PAUSE_BEFORE_LAST_ROUND)
        rounds.append(tab.burst(api))

    print(
        f"{launcher}: resolved per round {[r.resolved for r in rounds]} of {PARALLEL}, "
        f"preflights per round {[len(r.preflights) for r in rounds]}"
    )
    for number, result in enumerate(rounds, 1):
        failed = [outcome for outcome in result.outcomes if not outcome["ok"]]
        assert not failed, f"round {number}: {failed}\n{service.output()}"
        assert result.all_resolved, f"round {number}: Promise.all rejected"
        assert {(o["status"], o["body"]["message"]) for o in result.outcomes} == {
            (200, "Hello, world!")
        }
    # One preflight per distinct URL, then none: the browser honours Access-Control-Max-Age.
    assert sorted(rounds[0].preflights) == sorted(f"{api}?request={i}" for i in range(PARALLEL))
    assert [len(r.preflights) for r in rounds[1:]] == [0] * (ROUNDS - 1)
    assert not tab.errors(), tab.errors()


# What a front-end sends besides Authorization: the request ID the service keeps, and the
# W3C trace context that browser tracing adds.
TRACE_HEADERS = {
    "X-Request-ID": "page-trace-1",
    "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "tracestate": "vendor=opaque",
}


@pytest.mark.parametrize("header", TRACE_HEADERS)
def test_promise_all_with_request_id_and_trace_headers_resolves(
    launch: Callable[..., Launched],
    open_tab: Callable[[str], Tab],
    fault_projects: Callable[[str], Path],
    site: StaticSite,
    header: str,
) -> None:
    """Each header a page may add passes the preflight: no "not allowed by
    Access-Control-Allow-Headers" refusal, which the browser reports as a CORS error."""
    service = start(
        launch, fault_projects("gunicorn"), "gunicorn", CORS_ORIGINS=site.allowed_origin
    )
    tab = open_tab(site.allowed_origin + "/burst.html")

    result = tab.burst(service.url + "/api/hello", headers={header: TRACE_HEADERS[header]})

    print(
        f"{header}: resolved {result.resolved} of {PARALLEL}, {len(result.preflights)} preflights"
    )
    assert result.all_resolved, result.outcomes
    assert len(result.preflights) == PARALLEL  # the header made each fetch preflight
    assert not tab.errors(), tab.errors()


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_a_missing_route_reads_as_a_404_not_a_cors_error(
    launch: Callable[..., Launched],
    open_tab: Callable[[str], Tab],
    fault_projects: Callable[[str], Path],
    site: StaticSite,
    launcher: str,
) -> None:
    """A typo in a route, fetched with a header that needs a preflight: the page gets the
    real 404 and its JSON body, not a network error."""
    service = start(launch, fault_projects(launcher), launcher, CORS_ORIGINS=site.allowed_origin)
    tab = open_tab(site.allowed_origin + "/burst.html")

    result = tab.burst(service.url + "/api/helo")

    print(f"{launcher}: missing route, outcomes {result.outcomes[0]}")
    assert result.all_resolved, result.outcomes
    assert {(o["status"], o["body"]["status"]) for o in result.outcomes} == {(404, 404)}
    assert len(result.preflights) == PARALLEL
    assert not [line for line in tab.console if CORS_BLOCKED in line], tab.console


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_page_from_a_refused_origin_is_blocked(
    launch: Callable[..., Launched],
    open_tab: Callable[[str], Tab],
    fault_projects: Callable[[str], Path],
    site: StaticSite,
    launcher: str,
) -> None:
    """The same page from an origin not in CORS_ORIGINS: every fetch rejects, as CORS."""
    service = start(launch, fault_projects(launcher), launcher, CORS_ORIGINS=site.allowed_origin)
    api = service.url + "/api/hello"
    tab = open_tab(site.refused_origin + "/burst.html")

    result = tab.burst(api)

    print(f"{launcher}: refused origin, resolved {result.resolved} of {PARALLEL}")
    assert not result.all_resolved
    assert {outcome.get("error") for outcome in result.outcomes} == {"TypeError: Failed to fetch"}
    blocked = [line for line in tab.console if CORS_BLOCKED in line]
    assert blocked, tab.console
    assert all(f"from origin '{site.refused_origin}'" in line for line in blocked), blocked
    # The service, asked directly, gives the refused origin no CORS grant at all,
    # while the allowed origin gets one from the same running service.
    for method in ("OPTIONS", "GET"):
        assert "Access-Control-Allow-Origin" not in direct_request(method, api, site.refused_origin)
        allowed = direct_request(method, api, site.allowed_origin)
        assert allowed["Access-Control-Allow-Origin"] == site.allowed_origin


@pytest.mark.parametrize(("allow", "expect_resolved"), [("true", PARALLEL), ("false", 0)])
def test_credentialed_fetch_needs_cors_allow_credentials(
    cookies,
    launch: Callable[..., Launched],
    open_tab: Callable[[str], Tab],
    site: StaticSite,
    allow: str,
    expect_resolved: int,
) -> None:
    """With cors_allow_credentials, a credentials: 'include' burst works; turned off, it fails."""
    result = cookies.bake(extra_context={"server": "gunicorn", "cors_allow_credentials": True})
    assert result.exit_code == 0, result.exception
    service = start(
        launch,
        Path(result.project_path),
        "gunicorn",
        CORS_ORIGINS=site.allowed_origin,
        CORS_ALLOW_CREDENTIALS=allow,
    )
    tab = open_tab(site.allowed_origin + "/burst.html")

    burst = tab.burst(service.url + "/api/hello", credentials="include")

    print(f"credentials allowed={allow}: resolved {burst.resolved} of {PARALLEL}")
    assert burst.resolved == expect_resolved, burst.outcomes
    assert burst.all_resolved is (expect_resolved == PARALLEL)
    if allow == "true":
        assert not tab.errors(), tab.errors()
    else:
        # The browser names the missing header: this is what the setting turns on.
        assert any("Access-Control-Allow-Credentials" in line for line in tab.console), tab.console


def run_cors_check(tab: Tab, url: str) -> tuple[str, str]:
    """Fill in and run the shipped page; its verdict status and the text it shows."""
    tab.page.fill("#url", url)
    tab.page.fill("#parallel", str(PARALLEL))
    tab.page.fill("#rounds", str(ROUNDS))
    tab.page.fill("#authorization", "Bearer cors-check")
    tab.page.click("#run")
    verdict = tab.page.locator('#verdict[data-status="pass"], #verdict[data-status="fail"]')
    verdict.wait_for(timeout=30_000)
    return verdict.get_attribute("data-status") or "", tab.page.inner_text("body")


def test_shipped_cors_check_page_reports_success_and_the_reason_for_failure(
    launch: Callable[..., Launched],
    open_tab: Callable[[str], Tab],
    fault_projects: Callable[[str], Path],
    site: StaticSite,
) -> None:
    """tools/cors-check.html passes from an allowed origin and explains a refused one."""
    service = start(
        launch, fault_projects("waitress"), "waitress", CORS_ORIGINS=site.allowed_origin
    )
    api = service.url + "/api/hello"

    allowed = open_tab(site.allowed_origin + "/cors-check.html")
    status, text = run_cors_check(allowed, api)
    rows = allowed.page.locator("#results tbody tr").all_inner_texts()
    print(f"cors-check.html from the allowed origin: {status}, rows {rows}")
    assert status == "pass", text
    assert f"PASS: all {PARALLEL * ROUNDS} requests in {ROUNDS} round(s)" in text
    assert len(rows) == ROUNDS
    assert all(f"{PARALLEL}/{PARALLEL}" in row and "resolved" in row for row in rows), rows
    # It sent preflights, like the page that broke: the header is not a simple one.
    assert len(allowed.preflights) >= 1
    assert not allowed.errors(), allowed.errors()

    refused = open_tab(site.refused_origin + "/cors-check.html")
    status, text = run_cors_check(refused, api)
    print(f"cors-check.html from the refused origin: {status}")
    assert status == "fail", text
    assert f"FAIL: {PARALLEL * ROUNDS} of {PARALLEL * ROUNDS} requests failed" in text
    assert "TypeError: Failed to fetch" in text
    assert f"CORS_ORIGINS lists {site.refused_origin}" in text


def test_docs_page_renders_under_its_own_policy(
    launch: Callable[..., Launched],
    open_tab: Callable[[str], Tab],
    fault_projects: Callable[[str], Path],
) -> None:
    """API_DOCS=true: Swagger UI, from the service's own files, lists every operation of
    openapi.json, and its content security policy refuses nothing it needs (a refusal
    is a console error)."""
    service = start(launch, fault_projects("gunicorn"), "gunicorn", API_DOCS="true")
    tab = open_tab(service.url + "/docs")

    tab.page.wait_for_selector(".opblock")
    shown = tab.page.locator(".opblock-summary-path").all_inner_texts()

    print(f"docs page: {len(shown)} operations, console {tab.console}")
    assert {"/api/hello", "/api/echo", "/healthz", "/readyz"} <= set(shown)
    assert not tab.errors(), tab.errors()


# --- The typed client: what a front-end team builds first from the committed openapi.json.

# client.ts (the module a page uses), misuse.ts (which must not type-check), their tsconfig
# files, and the pinned npm tools, installed by .ci/run with `npm ci`.
TYPED_CLIENT = TEMPLATE_DIR / "tests" / "typed_client"
CLIENT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Typed client</title>
<link rel="icon" href="data:,"><script src="client.js"></script></head><body></body></html>
"""


@pytest.fixture(scope="module")
def typed_client(
    site: StaticSite,
    fault_projects: Callable[[str], Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> str:
    """client.ts against a bake's committed openapi.json: openapi-typescript writes its
    types, tsc checks it (and refuses misuse.ts), esbuild bundles it into the site as
    the global `typedClient`. The page's URL."""
    tools = TYPED_CLIENT / "node_modules" / ".bin"
    require_tool(
        (tools / "tsc").exists() and shutil.which("node") is not None,
        "The typed client's npm tools",
        "npm ci --prefix tests/typed_client (Node.js 20)",
    )
    work = tmp_path_factory.mktemp("typed_client")
    for name in ("client.ts", "misuse.ts", "tsconfig.json", "tsconfig.misuse.json"):
        shutil.copy(TYPED_CLIENT / name, work / name)
    (work / "node_modules").symlink_to(TYPED_CLIENT / "node_modules")
    spec = fault_projects("gunicorn") / "openapi.json"

    bundle = ["--bundle", "--format=iife", "--global-name=typedClient"]
    steps = [
        [str(tools / "openapi-typescript"), str(spec), "--output", "schema.d.ts"],
        [str(tools / "tsc"), "--project", "tsconfig.json"],
        [str(tools / "esbuild"), "client.ts", *bundle, f"--outfile={site.root / 'client.js'}"],
    ]
    for step in steps:
        done = run(step, work, timeout=120)
        assert done.returncode == 0, f"{step}: {done.stdout}{done.stderr}"
    # The types bite: a misspelt query parameter and a field the body lacks do not compile.
    misuse = run([str(tools / "tsc"), "--project", "tsconfig.misuse.json"], work, timeout=120)
    assert misuse.returncode != 0
    assert "'nam' does not exist" in misuse.stdout and "'greeting' does not exist" in misuse.stdout
    (site.root / "client.html").write_text(CLIENT_PAGE, encoding="utf-8")
    return site.allowed_origin + "/client.html"


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_typed_client_holds_the_burst_and_reads_the_422(
    launch: Callable[..., Launched],
    open_tab: Callable[[str], Tab],
    fault_projects: Callable[[str], Path],
    site: StaticSite,
    typed_client: str,
    launcher: str,
) -> None:
    """The page's Promise.all through the generated client, each call after a preflight,
    with no failure; a refused name shows the 422's field and reason."""
    service = start(launch, fault_projects(launcher), launcher, CORS_ORIGINS=site.allowed_origin)
    tab = open_tab(typed_client)

    outcomes = tab.page.evaluate(
        "([url, parallel]) => typedClient.burst(url, parallel)", [service.url, PARALLEL]
    )
    tab.sync_events()
    refused = tab.page.evaluate("(url) => typedClient.refusedName(url, '')", service.url)

    print(f"{launcher}: typed client, {len(outcomes)} calls, 422 {refused}")
    assert outcomes == [{"status": 200, "message": f"Hello, page {i}!"} for i in range(PARALLEL)]
    assert len(tab.preflights) == PARALLEL
    assert refused["status"] == 422
    assert (refused["location"], refused["field"]) == ("query", "name")
    assert "at least 1 character" in refused["message"]
    assert not [line for line in tab.console if CORS_BLOCKED in line], tab.console
