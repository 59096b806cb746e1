"""The incidents service's session hooks, registered where the process starts (the service's unit of
work, the tests' session factories), on one session factory at a time: never switched on for the
whole process by importing a module."""
from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.orm import sessionmaker

from .chronology.entries import write_lines
from .roll.search import note_roll_changes


def register(sessions: sessionmaker) -> sessionmaker:
    """Keep the pupil picker's index fresh and each chronology line's JSON in step with its columns."""
    # Marked on the factory itself: SQLAlchemy's event registry is keyed by id(), and a new factory
    # can take the address of one that was collected, so `event.contains` may answer for the wrong one.
    if not getattr(sessions, "_haven_hooks", False):
        event.listen(sessions, "after_flush", note_roll_changes)
        event.listen(sessions, "before_flush", write_lines)
        sessions._haven_hooks = True
    return sessions
