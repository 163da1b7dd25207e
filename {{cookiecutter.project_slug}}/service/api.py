"""An example JSON API. Replace it with your own routes, one blueprint per area.

Each route declares what it takes and what it answers as Pydantic models: APIFlask checks
every request against them (a 422 that names each invalid field) and writes them into
openapi.json, from which the front end's typed client is generated.
"""

from typing import Any

from apiflask import APIBlueprint
from pydantic import BaseModel, Field, RootModel

from service.openapi import require_json

bp = APIBlueprint("api", __name__, url_prefix="/api")
bp.before_request(require_json)


class HelloQuery(BaseModel):
    name: str = Field("world", min_length=1, max_length=100, description="Who to greet.")


class Message(BaseModel):
    message: str


class AnyObject(RootModel[dict[str, Any]]):
    """Any JSON object."""


@bp.get("/hello")
@bp.input(HelloQuery, location="query", arg_name="query")
@bp.output(Message)
def hello(query: HelloQuery) -> Message:
    """Say hello to `name`."""
    return Message(message=f"Hello, {query.name}!")


@bp.post("/echo")
@bp.input(AnyObject, arg_name="body")
@bp.output(AnyObject)
def echo(body: AnyObject) -> dict[str, Any]:
    """Answer with the JSON object sent."""
    return body.root
