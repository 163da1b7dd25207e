"""The example database API: list and create notes. Replace it with your own routes."""

from typing import Any

from flask import Blueprint, abort, request
from sqlalchemy import select

from service.db import db
from service.models import NOTE_LENGTH, Note

bp = Blueprint("notes", __name__, url_prefix="/api/notes")

# A list is never unbounded: the newest notes first, this many at most.
LIST_LIMIT = 100


@bp.get("/")
def list_notes() -> dict[str, Any]:
    notes = db.session.scalars(select(Note).order_by(Note.id.desc()).limit(LIST_LIMIT))
    return {"notes": [note.to_json() for note in notes]}


@bp.post("/")
def create_note() -> tuple[dict[str, Any], int]:
    payload = request.get_json()
    text = payload.get("text") if isinstance(payload, dict) else None
    if not isinstance(text, str) or not text.strip() or len(text) > NOTE_LENGTH:
        abort(400, description=f"Send a JSON object whose text has 1 to {NOTE_LENGTH} characters.")
    note = Note(text=text)
    db.session.add(note)
    db.session.commit()
    return note.to_json(), 201
