"""documents.document_stored: written with the document row, ids only, relayed after the upload."""
from __future__ import annotations

import json
import uuid

import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import select

from services.common.actor import sign
from services.common.errors import ValidationFailed
from services.common.nameko_ext import DatabaseSessions
from services.documents import domain
from services.documents.models import Document, OutboxEvent
from services.documents.service import DocumentsService

from .conftest import SCHOOL, FakeIncidents, b64, make_actor
from .test_service import ACTOR_KEY, Actors, FakeIncidentsProxy

FILENAME = "letter-from-dr-okafor-about-jo.pdf"


@pytest.fixture
def incident_id() -> int:
    return uuid.uuid4().int % 1_000_000_000


def events_for(db, incident_id) -> list[dict]:
    bodies = db(lambda s: list(s.scalars(select(OutboxEvent.body).order_by(OutboxEvent.id))))
    return [e for e in map(json.loads, bodies) if e.get("incident_id") == incident_id]


def store(session, vault, incident_id, filename=FILENAME, content=b"a letter"):
    return domain.store_document(session, make_actor(user_id=12), vault, FakeIncidents(), incident_id, filename,
                                 "application/pdf", b64(content), 1024)


def test_storing_a_document_writes_one_event_with_ids_only(db, local_vault, incident_id):
    stored = db(lambda s: store(s, local_vault, incident_id))
    (event,) = events_for(db, incident_id)
    assert set(event) == {"event_id", "event_type", "occurred_at", "school_id", "document_id", "incident_id",
                          "uploaded_by"}
    assert (event["event_type"], event["school_id"], event["document_id"], event["incident_id"],
            event["uploaded_by"]) == ("document_stored", SCHOOL, stored["id"], incident_id, 12)
    assert "letter" not in json.dumps(event) and "okafor" not in json.dumps(event).lower()


def test_the_event_and_the_row_are_one_transaction(db, local_vault, incident_id):
    def store_then_fail(session):
        store(session, local_vault, incident_id)
        raise RuntimeError("the database went away before the commit")

    with pytest.raises(RuntimeError):
        db(store_then_fail)
    assert events_for(db, incident_id) == []
    assert db(lambda s: s.scalars(select(Document).where(Document.incident_id == incident_id)).all()) == []


def test_a_refused_upload_writes_no_event(db, local_vault, incident_id):
    with pytest.raises(ValidationFailed):
        db(lambda s: store(s, local_vault, incident_id, filename="///"))
    assert events_for(db, incident_id) == []


class FakePublisher:
    def __init__(self, fail=False):
        self.fail, self.published = fail, []

    def publish(self, event_type, body, event_id):
        if self.fail:
            raise ConnectionError("broker unreachable")
        self.published.append((event_type, json.loads(body), event_id))


def worker(sessions, local_vault, publisher):
    return worker_factory(DocumentsService, db=DatabaseSessions(sessions), actors=Actors(), vault=local_vault,
                          incidents=FakeIncidentsProxy(), events=publisher,
                          config={"MAX_DOCUMENT_BYTES": 1024, "RPC_TIMEOUT_SECONDS": 5})


def test_the_service_relays_the_event_straight_after_the_upload(sessions, db, local_vault, incident_id):
    publisher = FakePublisher()
    stored = worker(sessions, local_vault, publisher).store_document(
        sign(make_actor(), ACTOR_KEY), incident_id, "note.txt", "text/plain", b64(b"hello"))
    mine = [p for p in publisher.published if p[1]["incident_id"] == incident_id]
    assert [(t, body["document_id"]) for t, body, _ in mine] == [("document_stored", stored["id"])]
    published_at = db(lambda s: s.scalar(select(OutboxEvent.published_at).where(
        OutboxEvent.event_id == mine[0][2])))
    assert published_at is not None


def test_an_unreachable_broker_does_not_fail_the_upload(sessions, db, local_vault, incident_id):
    stored = worker(sessions, local_vault, FakePublisher(fail=True)).store_document(
        sign(make_actor(), ACTOR_KEY), incident_id, "note.txt", "text/plain", b64(b"hello"))
    (event,) = events_for(db, incident_id)
    assert event["document_id"] == stored["id"]
    published_at = db(lambda s: s.scalar(select(OutboxEvent.published_at).where(
        OutboxEvent.event_id == event["event_id"])))
    assert published_at is None  # the timer publishes it later
    later = FakePublisher()
    worker(sessions, local_vault, later).relay_events()
    assert event["event_id"] in [event_id for _, _, event_id in later.published]
