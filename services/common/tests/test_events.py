"""Events and the transactional outbox relay (services/common/events.py) against real PostgreSQL.

The publisher is a plain test double recording what it is asked to publish: this tests the relay's
ordering and bookkeeping, not the broker."""
from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import DeclarativeBase

from services.common import events, telemetry
from services.common.db import make_engine, session_factory, utcnow
from services.common.events import (
    OUTBOX_RETENTION,
    OutboxMixin,
    ProcessedEventMixin,
    add_to_outbox,
    already_processed,
    make_event,
    prune_published,
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
        self.headers: dict[str, str | None] = {}
        self.fail_on = fail_on

    def publish(self, event_type: str, body: str, event_id: str, stored_headers: str | None = None) -> None:
        if event_id == self.fail_on:
            raise ConnectionError("broker did not confirm")
        self.calls.append((event_type, body, event_id))
        self.headers[event_id] = stored_headers


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


def test_an_event_goes_out_with_the_request_id_of_the_request_that_caused_it(sessions):
    with telemetry.bound("req-1234"):
        caused, = put(sessions, "a_happened")
    unprompted, = put(sessions, "b_happened")  # no request: a scheduled job
    publisher = RecordingPublisher()
    with sessions() as session:
        relay_outbox(session, OutboxEvent, publisher)
    assert telemetry.stored(publisher.headers[caused["event_id"]]) == {telemetry.REQUEST_ID_HEADER: "req-1234"}
    assert publisher.headers[unprompted["event_id"]] is None


def test_a_stored_request_id_that_is_not_one_is_not_sent_on():
    for kept in ('{"haven-request-id": "a b\\nforged line"}', "not json", '["a"]', '{"haven-request-id": 5}'):
        assert telemetry.stored(kept) == {}


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


def test_already_processed_waits_for_a_copy_being_handled_elsewhere(sessions):
    """Two instances holding copies of one event: the second waits for the first's transaction,
    then sees the event as processed (after a commit) or claims it (after a rollback)."""
    for first_commits in (True, False):
        event = make_event("incident_recorded", 1, incident_id=1)
        first = sessions()
        assert already_processed(first, ProcessedEvent, event) is False
        answer: list[bool] = []

        def second():
            with sessions.begin() as session:
                answer.append(already_processed(session, ProcessedEvent, event))

        thread = threading.Thread(target=second)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive() and not answer  # waiting on the first transaction's row
        first.commit() if first_commits else first.rollback()
        first.close()
        thread.join(10)
        assert answer == [first_commits]


# --- the outbox's indexes and pruning ----------------------------------------------------------------

def test_the_outbox_indexes_only_unpublished_rows_for_the_relay():
    index = next(i for i in OutboxEvent.__table__.indexes if i.name == "ix_outbox_unpublished")
    assert [c.name for c in index.columns] == ["id"]
    for dialect in ("postgresql", "sqlite"):
        assert str(index.dialect_options[dialect]["where"]) == "published_at IS NULL"


def test_the_relay_reads_no_published_row_however_many_there_are(engine, sessions):
    """PostgreSQL's plan for the relay's query goes through the partial index and touches the two
    unpublished rows only (through the primary key it would walk the 20,000 published ones)."""
    with engine.begin() as conn:
        conn.execute(text("""INSERT INTO outbox (event_id, event_type, body, created_at, published_at)
                             SELECT gen_random_uuid()::text, 'x_happened', '{}', now(), now()
                             FROM generate_series(1, 20000)"""))
        conn.execute(text("ANALYZE outbox"))
    put(sessions, "a_happened", "b_happened")
    query = (select(OutboxEvent.id).where(OutboxEvent.published_at.is_(None)).order_by(OutboxEvent.id)
             .limit(100).with_for_update(skip_locked=True))
    sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
    with engine.connect() as conn:
        plan = "\n".join(conn.execute(text("EXPLAIN (ANALYZE) " + sql)).scalars())
        conn.rollback()
    assert "Index Scan using ix_outbox_unpublished" in plan, plan
    assert "rows=2 " in plan.split("Index Scan", 1)[1], plan


def test_prune_deletes_only_rows_published_before_the_retention(sessions):
    old, recent, waiting = put(sessions, "a_happened", "b_happened", "c_happened")
    now = utcnow()
    with sessions.begin() as session:
        session.execute(update(OutboxEvent).where(OutboxEvent.event_id == old["event_id"])
                        .values(published_at=now - OUTBOX_RETENTION - timedelta(minutes=1)))
        session.execute(update(OutboxEvent).where(OutboxEvent.event_id == recent["event_id"])
                        .values(published_at=now - OUTBOX_RETENTION + timedelta(minutes=1)))
    with sessions.begin() as session:
        assert prune_published(session, OutboxEvent, now=now) == 1
    assert published(sessions) == {recent["event_id"]: True, waiting["event_id"]: False}


def test_an_idle_relay_pass_prunes_at_most_once_per_interval(sessions, monkeypatch):
    monkeypatch.setattr(events, "_last_pruned", {})
    old, = put(sessions, "a_happened")
    with sessions.begin() as session:
        session.execute(update(OutboxEvent).values(published_at=utcnow() - OUTBOX_RETENTION - timedelta(days=1)))
    with sessions() as session:
        assert relay_outbox(session, OutboxEvent, RecordingPublisher()) == 0
    assert published(sessions) == {}
    second, = put(sessions, "b_happened")
    with sessions.begin() as session:
        session.execute(update(OutboxEvent).values(published_at=utcnow() - OUTBOX_RETENTION - timedelta(days=1)))
    with sessions() as session:
        relay_outbox(session, OutboxEvent, RecordingPublisher())
    assert published(sessions) == {second["event_id"]: True}  # not due again yet


# --- several relays at once ------------------------------------------------------------------------

class SlowPublisher(RecordingPublisher):
    """Yields to other threads on every publish, as a broker round trip would."""

    def __init__(self, seen: list):
        super().__init__()
        self.seen = seen

    def publish(self, event_type: str, body: str, event_id: str, stored_headers: str | None = None) -> None:
        time.sleep(0.001)
        self.seen.append(event_id)


def test_relays_in_several_processes_publish_each_event_once(engine, sessions):
    events_ = put(sessions, *[f"e{n}_happened" for n in range(300)])
    seen: list[str] = []
    counts: list[int] = []

    def relay():
        publisher = SlowPublisher(seen)
        sent = 0
        with sessions() as session:
            while n := relay_outbox(session, OutboxEvent, publisher, batch=20):
                sent += n
        counts.append(sent)

    with engine.connect() as a, engine.connect() as b, engine.connect() as c:  # three pooled connections,
        for conn in (a, b, c):                                                 # so no relay starts late
            conn.execute(text("SELECT 1"))
    threads = [threading.Thread(target=relay) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(seen) == sorted(e["event_id"] for e in events_)  # every one, none twice
    assert sum(counts) == 300 and all(counts), counts  # and every relay had a share
    assert set(published(sessions).values()) == {True}


def test_already_processed_on_sqlite_too(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'events.sqlite3'}")
    try:
        Base.metadata.create_all(engine)
        sessions = session_factory(engine)
        event = make_event("incident_recorded", 1, incident_id=1)
        with sessions.begin() as session:
            assert already_processed(session, ProcessedEvent, event) is False
        with sessions.begin() as session:
            assert already_processed(session, ProcessedEvent, event) is True
        with sessions() as session:
            row = session.get(ProcessedEvent, event["event_id"])
            assert row.event_type == "incident_recorded" and isinstance(row.processed_at, datetime)
    finally:
        engine.dispose()
