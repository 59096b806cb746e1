"""Events and the transactional outbox relay (services/common/events.py) against real PostgreSQL.

The publisher is a plain test double recording what it is asked to publish: this tests the relay's
ordering and bookkeeping, not the broker."""
from __future__ import annotations

import json
import uuid
from datetime import datetime

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import DeclarativeBase

from services.common.db import make_engine, session_factory, utcnow
from services.common.events import (
    OutboxMixin,
    ProcessedEventMixin,
    add_to_outbox,
    already_processed,
    make_event,
    relay_outbox,
)
from services.common.testing import fresh_database


class Base(DeclarativeBase):
    pass


class OutboxEvent(OutboxMixin, Base):
    pass


class ProcessedEvent(ProcessedEventMixin, Base):
    pass


@pytest.fixture(scope="module")
def engine():
    with fresh_database("haven_common_test") as url:
        engine = make_engine(url)
        Base.metadata.create_all(engine)
        yield engine
        engine.dispose()


@pytest.fixture
def sessions(engine):
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE outbox, processed_events RESTART IDENTITY"))
    return session_factory(engine)


class RecordingPublisher:
    def __init__(self, fail_on: str | None = None):
        self.calls: list[tuple[str, str, str]] = []
        self.fail_on = fail_on

    def publish(self, event_type: str, body: str, event_id: str) -> None:
        if event_id == self.fail_on:
            raise ConnectionError("broker did not confirm")
        self.calls.append((event_type, body, event_id))


def put(sessions, *event_types, school_id=1) -> list[dict]:
    events = [make_event(t, school_id, incident_id=n) for n, t in enumerate(event_types, start=1)]
    with sessions.begin() as session:
        for event in events:
            add_to_outbox(session, OutboxEvent, event)
    return events


def published(sessions) -> dict[str, bool]:
    with sessions() as session:
        return {r.event_id: r.published_at is not None
                for r in session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))}


# --- make_event --------------------------------------------------------------------------------

def test_make_event_shape():
    before = utcnow()
    event = make_event("incident_recorded", 7, incident_id=42, pupil_id=3)
    assert set(event) == {"event_id", "event_type", "occurred_at", "school_id", "incident_id", "pupil_id"}
    assert str(uuid.UUID(event["event_id"])) == event["event_id"]
    assert event["event_type"] == "incident_recorded"
    assert event["school_id"] == 7 and event["incident_id"] == 42 and event["pupil_id"] == 3
    assert event["occurred_at"].endswith("Z")
    when = datetime.fromisoformat(event["occurred_at"][:-1])
    assert before <= when <= utcnow()
    json.dumps(event)


def test_make_event_ids_are_unique():
    assert len({make_event("x", 1)["event_id"] for _ in range(50)}) == 50


def test_add_to_outbox_stores_the_event_as_json(sessions):
    [event] = put(sessions, "incident_recorded")
    with sessions() as session:
        row = session.scalars(select(OutboxEvent)).one()
    assert (row.event_id, row.event_type, row.published_at) == (event["event_id"], "incident_recorded", None)
    assert json.loads(row.body) == event


# --- relay_outbox ------------------------------------------------------------------------------

def test_relay_publishes_in_id_order_and_marks_each_row(sessions):
    events = put(sessions, "a_happened", "b_happened", "c_happened")
    publisher = RecordingPublisher()
    with sessions() as session:
        assert relay_outbox(session, OutboxEvent, publisher) == 3
    assert publisher.calls == [(e["event_type"], json.dumps(e), e["event_id"]) for e in events]
    assert published(sessions) == {e["event_id"]: True for e in events}


def test_relay_skips_what_is_already_published(sessions):
    first, second = put(sessions, "a_happened", "b_happened")
    with sessions() as session:
        relay_outbox(session, OutboxEvent, RecordingPublisher())
    third, = put(sessions, "c_happened")
    publisher = RecordingPublisher()
    with sessions() as session:
        assert relay_outbox(session, OutboxEvent, publisher) == 1
        assert relay_outbox(session, OutboxEvent, publisher) == 0
    assert [c[2] for c in publisher.calls] == [third["event_id"]]


def test_relay_stops_at_a_failed_publish_and_leaves_that_row_for_next_time(sessions):
    first, second, third = put(sessions, "a_happened", "b_happened", "c_happened")
    publisher = RecordingPublisher(fail_on=second["event_id"])
    with sessions() as session:
        with pytest.raises(ConnectionError):
            relay_outbox(session, OutboxEvent, publisher)
        session.rollback()
    assert [c[2] for c in publisher.calls] == [first["event_id"]]
    assert published(sessions) == {first["event_id"]: True, second["event_id"]: False,
                                   third["event_id"]: False}

    publisher.fail_on = None
    with sessions() as session:
        assert relay_outbox(session, OutboxEvent, publisher) == 2
    assert [c[2] for c in publisher.calls] == [first["event_id"], second["event_id"], third["event_id"]]


def test_relay_publishes_at_most_a_batch(sessions):
    events = put(sessions, *[f"e{n}_happened" for n in range(5)])
    publisher = RecordingPublisher()
    with sessions() as session:
        assert relay_outbox(session, OutboxEvent, publisher, batch=2) == 2
    assert [c[2] for c in publisher.calls] == [e["event_id"] for e in events[:2]]


def test_relay_skips_a_row_another_relay_holds(sessions):
    first, second = put(sessions, "a_happened", "b_happened")
    holder = sessions()
    try:
        holder.scalars(select(OutboxEvent).where(OutboxEvent.event_id == first["event_id"])
                       .with_for_update()).one()
        publisher = RecordingPublisher()
        with sessions() as session:
            assert relay_outbox(session, OutboxEvent, publisher) == 1
        assert [c[2] for c in publisher.calls] == [second["event_id"]]
    finally:
        holder.rollback()
        holder.close()
    assert published(sessions) == {first["event_id"]: False, second["event_id"]: True}


# --- already_processed -------------------------------------------------------------------------

def test_already_processed_is_false_once_then_true(sessions):
    event = make_event("incident_recorded", 1, incident_id=1)
    with sessions.begin() as session:
        assert already_processed(session, ProcessedEvent, event) is False
    with sessions.begin() as session:
        assert already_processed(session, ProcessedEvent, event) is True
