"""The example database API: list and create notes. Replace it with your own routes."""

from datetime import datetime

from apiflask import APIBlueprint
from pydantic import BaseModel, Field
from sqlalchemy import select

from service.db import db
from service.models import NOTE_LENGTH, Note
from service.openapi import require_json

bp = APIBlueprint("notes", __name__, url_prefix="/api/notes")
bp.before_request(require_json)

# A list is never unbounded: the newest notes first, this many at most.
LIST_LIMIT = 100


class ListQuery(BaseModel):
    limit: int = Field(LIST_LIMIT, ge=1, le=LIST_LIMIT, description="The most notes to list.")


class NewNote(BaseModel):
    # At least one character that is not white space, and no more than the column holds.
    text: str = Field(min_length=1, max_length=NOTE_LENGTH, pattern=r"\S")


class NoteOut(BaseModel):
    id: int
    text: str
    created_at: datetime


class NoteList(BaseModel):
    notes: list[NoteOut]


@bp.get("/")
@bp.input(ListQuery, location="query", arg_name="query")
@bp.output(NoteList)
def list_notes(query: ListQuery) -> NoteList:
    """The newest notes first."""
    notes = db.session.scalars(select(Note).order_by(Note.id.desc()).limit(query.limit))
    return NoteList(notes=[NoteOut.model_validate(note, from_attributes=True) for note in notes])


@bp.post("/")
@bp.input(NewNote, arg_name="body")
@bp.output(NoteOut, status_code=201)
def create_note(body: NewNote) -> NoteOut:
    """Write a note."""
    note = Note(text=body.text)
    db.session.add(note)
    db.session.commit()
    return NoteOut.model_validate(note, from_attributes=True)
