"""Test-only: the fault app plus a route that waits on the database, for database bakes."""

from fault_app import app, worker_app
from flask import request
from service.db import db
from sqlalchemy import text

__all__ = ["app", "worker_app"]


@app.get("/test/query")
def query():
    seconds = float(request.args.get("seconds", "0.05"))
    db.session.execute(text("SELECT pg_sleep(:seconds)"), {"seconds": seconds})
    return {"queried": seconds}
