"""hooks.register: the search index and chronology listeners belong to the session factory they are
registered on, never to the whole process (STYLE: no hooks switched on by an import's side effect)."""
from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.orm import Session

from services.common.db import session_factory, utcnow
from services.incidents import hooks
from services.incidents.chronology.entries import add_entry, write_lines
from services.incidents.roll.search import note_roll_changes

from .conftest import SCHOOL, pupil_id


def listening(target) -> bool:
    return (event.contains(target, "after_flush", note_roll_changes)
            and event.contains(target, "before_flush", write_lines))


def test_registering_on_one_factory_leaves_another_alone(engine):
    registered, other = session_factory(engine), session_factory(engine)
    assert hooks.register(registered) is registered
    assert listening(registered)
    # Asked by behaviour, not `event.contains(other, …)`: SQLAlchemy's registry is keyed by id(), and a
    # new factory can take the address of one collected earlier in the run (a CI failure, once).
    assert line_written(other) is None
    assert not listening(Session)  # nor every session in the process


def test_registering_twice_listens_once(engine):
    sessions = hooks.register(hooks.register(session_factory(engine)))
    event.remove(sessions, "after_flush", note_roll_changes)
    event.remove(sessions, "before_flush", write_lines)
    assert not listening(sessions)


def line_written(sessions) -> str | None:
    """Flush a chronology line through a session of `sessions` (rolled back) and return its JSON."""
    with sessions() as session:
        entry = add_entry(session, school_id=SCHOOL, pupil_id=pupil_id(session), entry_type="case", ref_id=1,
                          occurred_at=utcnow(), title="Case opened: hooks")
        session.flush()
        line = entry.line
        session.rollback()
    return line


def test_a_session_of_another_factory_runs_no_hook(engine):
    registered, plain = hooks.register(session_factory(engine)), session_factory(engine)
    assert '"title":"Case opened: hooks"' in line_written(registered)
    assert line_written(plain) is None
