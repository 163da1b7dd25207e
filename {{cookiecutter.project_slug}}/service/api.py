"""An example JSON API. Replace it with your own routes, one blueprint per area."""

from typing import Any

from flask import Blueprint, abort, request

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.get("/hello")
def hello() -> dict[str, str]:
    return {"message": "Hello, world!"}


@bp.post("/echo")
def echo() -> dict[str, Any]:
    # get_json() answers 400 for malformed JSON and 415 for a body not sent as JSON.
    payload = request.get_json()
    if not isinstance(payload, dict):
        abort(400, description="The request body must be a JSON object.")
    return payload
