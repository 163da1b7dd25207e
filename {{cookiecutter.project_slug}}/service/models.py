"""The tables, as SQLAlchemy 2 models. After a change here, write its migration:
`flask --app app db migrate -m "what changed"`, read it, then `flask --app app db upgrade`.
"""

from datetime import datetime

from sqlalchemy import DateTime, String, func
from sqlalchemy.orm import Mapped, mapped_column

from service.db import db

NOTE_LENGTH = 500


class Note(db.Model):  # type: ignore[name-defined]
    """The example: a short text and when it was written. Replace it with your own."""

    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(NOTE_LENGTH))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
