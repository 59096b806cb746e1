"""A small service on the one adapter, run in its own green process by test_adapter.py:

    python -m services.common.tests.adapter_service AMQP_URI DATABASE_URL FAILED_PUBLISHES

FAILED_PUBLISHES: how many publishes fail first, as when the broker connection drops between the
commit and the relay.
"""
if __name__ == "__main__":  # the service's own process is green; the test process that imports this is not
    import services.common.green  # noqa: F401  (must come first)

import sys  # noqa: E402
from types import SimpleNamespace  # noqa: E402

from nameko.runners import ServiceRunner  # noqa: E402
from sqlalchemy import Integer, String  # noqa: E402
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column  # noqa: E402

from services.common import events as events_module  # noqa: E402
from services.common.adapter import Service, UnitOfWork  # noqa: E402
from services.common.contracts.base import Contract, Event, Id, ServiceContract, Text, View  # noqa: E402
from services.common.events import OutboxMixin, add_to_outbox, make_event  # noqa: E402
from services.common.keys import KeyRing  # noqa: E402
from services.common.spent import SpentTokenMixin  # noqa: E402
from services.common.testing import TEST_KEYS, TEST_PUBLIC_KEYS  # noqa: E402

contract = ServiceContract("adaptertest")


class SaveNote(Contract):
    pupil_id: Id
    text: Text(100, min_length=1)


class NoteView(View):
    id: int
    pupil_id: int


save_note = contract.method("save_note", SaveNote, NoteView)


class NoteSaved(Event):
    note_id: Id


note_saved = contract.event("note_saved", NoteSaved)


class Base(DeclarativeBase):
    pass


class Note(Base):
    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pupil_id: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(String(100))


class OutboxEvent(OutboxMixin, Base):
    pass


class SpentToken(SpentTokenMixin, Base):
    pass


def record_note(session, actor, pupil_id, text):
    note = Note(pupil_id=pupil_id, text=text)
    session.add(note)
    session.flush()
    add_to_outbox(session, OutboxEvent, make_event(note_saved.name, actor.school_id, note_id=note.id))
    return {"id": note.id, "pupil_id": pupil_id}


class AdapterTestService(Service):
    name = "adaptertest"
    unit_of_work = UnitOfWork(OutboxEvent, spent_model=SpentToken)
    methods = {save_note: record_note}




def fail_first_publishes(count: int) -> None:
    real = events_module.EventPublisher.publish
    left = {"n": count}

    def publish(self, event_type, body, event_id, stored_headers=None):
        if left["n"] > 0:
            left["n"] -= 1
            raise ConnectionError("connection reset by peer")
        return real(self, event_type, body, event_id, stored_headers)

    events_module.EventPublisher.publish = publish


if __name__ == "__main__":
    amqp_uri, database_url, failures = sys.argv[1], sys.argv[2], int(sys.argv[3])
    fail_first_publishes(failures)
    settings = SimpleNamespace(amqp_uri=amqp_uri, database_url=database_url, key_ring=KeyRing.parse(TEST_PUBLIC_KEYS),
                               signing_key=TEST_KEYS["incidents"], actor_ttl_seconds=15, check_results=True)
    runner = ServiceRunner({"AMQP_URI": amqp_uri, "SETTINGS": settings, "serializer": "json"})
    runner.add_service(AdapterTestService)
    runner.start()
    print("ready", flush=True)
    runner.wait()
