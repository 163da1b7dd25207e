"""Every error is a JSON body: a browser's fetch() can read it, and no page leaks internals."""

from flask import Flask, Response, current_app
from werkzeug.exceptions import HTTPException


def init_app(app: Flask) -> None:
    # Unhandled exceptions reach this handler as an InternalServerError (a 500).
    app.register_error_handler(HTTPException, json_error)


def json_error(error: HTTPException) -> Response:
    # get_response() keeps the error's own headers, such as Allow on a 405.
    response = error.get_response()
    response.data = current_app.json.dumps(
        {"status": error.code, "error": error.name, "message": error.description}
    )
    response.content_type = "application/json"
    return response
