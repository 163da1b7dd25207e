import pytest
from flask import Flask, request

from app import create_app
from tests.conftest import TEST_ENVIRON

FORWARDED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}


def whoami_app(trusted: str) -> Flask:
    app = create_app({"TESTING": True}, environ={**TEST_ENVIRON, "FORWARDED_ALLOW_IPS": trusted})

    @app.get("/test/whoami")
    def whoami() -> dict[str, str]:
        return {"address": request.remote_addr or "", "scheme": request.scheme}

    return app


@pytest.mark.parametrize(
    ("trusted", "peer", "seen"),
    [
        ("127.0.0.1", "127.0.0.1", {"address": "203.0.113.7", "scheme": "https"}),
        ("127.0.0.1", "198.51.100.9", {"address": "198.51.100.9", "scheme": "http"}),
        ("", "127.0.0.1", {"address": "127.0.0.1", "scheme": "http"}),
        ("*", "198.51.100.9", {"address": "203.0.113.7", "scheme": "https"}),
    ],
    ids=["trusted-proxy", "untrusted-peer", "trust-none", "trust-any"],
)
def test_forwarded_headers_count_only_from_trusted_proxies(
    trusted: str, peer: str, seen: dict[str, str]
) -> None:
    client = whoami_app(trusted).test_client()
    response = client.get("/test/whoami", headers=FORWARDED, environ_base={"REMOTE_ADDR": peer})
    assert response.get_json() == seen
