"""documents.document_stored: written with the document row, ids only, relayed after the upload."""
from __future__ import annotations

import json
import uuid

import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import select

from services.common.errors import ValidationFailed
from services.common.adapter import Work
from services.common.events import relay_outbox
from services.documents import domain
from services.documents.models import Document, OutboxEvent, SpentToken
from services.documents.service import DocumentsService

from .conftest import SCHOOL, FakeIncidents, b64, make_actor
from .test_service import SETTINGS, signed

FILENAME = "letter-from-dr-okafor-about-jo.pdf"


@pytest.fixture
def incident_id() -> int:
    return uuid.uuid4().int % 1_000_000_000


def events_for(db, incident_id) -> list[dict]:
    bodies = db(lambda s: list(s.scalars(select(OutboxEvent.body).order_by(OutboxEvent.id))))
    return [e for e in map(json.loads, bodies) if e.get("incident_id") == incident_id]


def store(session, vault, incident_id, filename=FILENAME, content=b"%PDF-1.4 a letter"):
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


def test_the_service_wakes_the_relay_after_the_upload_and_the_relay_publishes_it(sessions, db, local_vault,
                                                                                 incident_id):
    """The relay runs in its own green thread (services/common/adapter.py): the upload only wakes it,
    so an unreachable broker can never fail an upload (tested with a real broker in
    services/common/tests/test_adapter.py)."""
    woken = []
    worker = worker_factory(DocumentsService, unit_of_work=Work(SETTINGS, sessions, lambda: woken.append(1), SpentToken),
                            vault=local_vault, check_access=lambda incident_id, purpose: {
                                "incident_id": incident_id, "pupil_id": 1, "school_id": SCHOOL},
                            max_bytes=1024)
    note = {"incident_id": incident_id, "filename": "note.txt", "content_type": "text/plain",
            "content_b64": b64(b"hello")}
    stored = worker.store_document(signed("store_document", actor=make_actor(), **note), **note)
    assert woken == [1]
    (event,) = events_for(db, incident_id)

    class Publisher:
        published = []

        def publish(self, event_type, body, event_id, stored_headers=None):
            self.published.append((event_type, json.loads(body)["document_id"]))

    db(lambda s: relay_outbox(s, OutboxEvent, Publisher()))
    assert ("document_stored", stored["id"]) in Publisher.published
