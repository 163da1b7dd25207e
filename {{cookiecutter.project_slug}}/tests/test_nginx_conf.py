"""deploy/nginx.conf stays in step with the service's own settings."""

import re

from service.settings import DEFAULTS, PROJECT_DIR, load_settings
from tests.test_settings import KEY

NGINX_CONF = (PROJECT_DIR / "deploy" / "nginx.conf").read_text(encoding="utf-8")


def test_nginx_error_pages_allow_the_same_origins_as_cors_origins() -> None:
    # nginx's own errors (413, 502, 504) get CORS headers from this map, so that a
    # proxy error reaches the page as itself, not as a CORS error.
    origins = load_settings(KEY).cors_origins
    mapped = re.findall(r'^\s+"([^"]+)" \$http_origin;$', NGINX_CONF, re.MULTILINE)
    if "*" in origins:
        assert 'default "*";' in NGINX_CONF
    else:
        assert sorted(mapped) == sorted(origins)


def test_nginx_refuses_bodies_above_max_content_length() -> None:
    assert f"client_max_body_size {DEFAULTS['MAX_CONTENT_LENGTH']};" in NGINX_CONF


def test_nginx_proxies_to_the_service_port() -> None:
    assert f"server 127.0.0.1:{DEFAULTS['PORT']};" in NGINX_CONF
