"""Test-only: the generated service plus routes that misbehave on purpose."""

import time

from app import create_app
from flask import request

app = create_app()


@app.get("/test/slow")
def slow():
    time.sleep(float(request.args.get("seconds", "1")))
    return {"slept": True}


@app.get("/test/boom")
def boom():
    raise RuntimeError("deliberate failure")


@app.get("/test/whoami")
def whoami():
    return {"address": request.remote_addr, "scheme": request.scheme}


def worker_app():
    """Granian's factory for this app: wsgi.serve("fault_app:worker_app")."""
    import wsgi

    return wsgi.set_up_worker(app)
