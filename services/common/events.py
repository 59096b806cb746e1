"""Events are facts (DESIGN rule 4): an id, when, which school, and the ids they are about.

The outbox keeps each event in the same transaction as the change it reports; the relay publishes
it afterwards with publisher confirms, so a crash between the two can delay an event, never lose it.
"""
from __future__ import annotations

import json
import logging
import threading
import uuid
from datetime import datetime

from kombu import Connection, Exchange, Producer
from sqlalchemy import DateTime, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from .db import utcnow

log = logging.getLogger(__name__)


def events_exchange(service: str) -> Exchange:
    return Exchange(f"{service}.events", type="topic", durable=True)


class OutboxMixin:
    """Mix into a service's declarative base as `class OutboxEvent(OutboxMixin, Base)`."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    event_type: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True, index=True)


class ProcessedEventMixin:
    """Mix in as `class ProcessedEvent(ProcessedEventMixin, Base)`: consumers are idempotent on event_id."""

    __tablename__ = "processed_events"
    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(120))
    processed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


def make_event(event_type: str, school_id: int, **ids) -> dict:
    return {"event_id": str(uuid.uuid4()), "event_type": event_type,
            "occurred_at": utcnow().isoformat() + "Z", "school_id": school_id, **ids}


def add_to_outbox(session: Session, outbox_model, event: dict) -> None:
    session.add(outbox_model(event_id=event["event_id"], event_type=event["event_type"],
                             body=json.dumps(event)))


def already_processed(session: Session, processed_model, event: dict) -> bool:
    """Claim an event for this transaction; False the first time, True for a redelivery."""
    if session.get(processed_model, event["event_id"]) is not None:
        return True
    session.add(processed_model(event_id=event["event_id"], event_type=event.get("event_type", "")))
    session.flush()
    return False


class EventPublisher:
    """Publishes to `<service>.events` with publisher confirms over one reused connection."""

    def __init__(self, amqp_uri: str, service: str):
        self.exchange = events_exchange(service)
        self.connection = Connection(amqp_uri, transport_options={"confirm_publish": True})
        self._lock = threading.Lock()  # one channel: publish from one green thread at a time

    def publish(self, event_type: str, body: str, event_id: str) -> None:
        with self._lock:
            self._publish(event_type, body, event_id)

    def _publish(self, event_type: str, body: str, event_id: str) -> None:
        producer = Producer(self.connection.default_channel, exchange=self.exchange)
        producer.publish(body, routing_key=event_type, content_type="application/json",
                         content_encoding="utf-8", delivery_mode=2, message_id=event_id,
                         declare=[self.exchange], retry=True, retry_policy={"max_retries": 3})

    def close(self) -> None:
        self.connection.release()


def relay_outbox(session: Session, outbox_model, publisher: EventPublisher, batch: int = 100) -> int:
    """Publish unpublished events in order, one row at a time, each marked once the broker confirms.

    On PostgreSQL the row is locked (SKIP LOCKED) until it is marked, so two relays never publish
    the same event; should a relay die between the confirm and the commit, the event goes again
    and consumers, idempotent on event_id, ignore the copy.
    """
    sent = 0
    while sent < batch:
        query = (select(outbox_model).where(outbox_model.published_at.is_(None))
                 .order_by(outbox_model.id).limit(1))
        if session.bind.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        row = session.scalars(query).first()
        if row is None:
            break
        publisher.publish(row.event_type, row.body, row.event_id)
        row.published_at = utcnow()
        session.commit()
        sent += 1
    if sent:
        log.info("relayed %d event(s)", sent)
    return sent
