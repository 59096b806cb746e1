"""Events are facts (DESIGN rule 4): an id, when, which school, and the ids they are about.

The outbox keeps each event in the same transaction as the change it reports; the relay publishes
it afterwards with publisher confirms, so a crash between the two can delay an event, never lose it.
Each is signed with the publishing process's own key as it goes out (signed.py), and consumers
verify that before they look at it.
"""
from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from datetime import datetime, timedelta

from kombu import Exchange, Producer
from sqlalchemy import Column, DateTime, Index, Integer, String, Text, bindparam, delete, select, text, update
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column

from .contracts import base as base_contract
from . import amqp, metrics, telemetry
from .db import skip_locked, utcnow
from .keys import SigningKey
from .signed import sign

log = logging.getLogger(__name__)

# Published rows are kept this long (to see what went out, and when), then deleted by the relays.
OUTBOX_RETENTION = timedelta(days=7)
# Each process prunes an outbox at most this often, a bounded batch at a time, and only on a pass
# that found nothing to publish.
PRUNE_INTERVAL_SECONDS = 600.0
PRUNE_BATCH = 1000
UNPUBLISHED = "published_at IS NULL"
UNPUBLISHED_INDEX = "ix_outbox_unpublished"


_UNPUBLISHED_WHERE = {"postgresql_where": text(UNPUBLISHED), "sqlite_where": text(UNPUBLISHED)}


def create_unpublished_index(op) -> None:
    """For a service's Alembic migration: the outbox's partial index (see OutboxMixin)."""
    op.create_index(UNPUBLISHED_INDEX, "outbox", ["id"], unique=False, **_UNPUBLISHED_WHERE)


def drop_unpublished_index(op) -> None:
    op.drop_index(UNPUBLISHED_INDEX, table_name="outbox")


def add_headers_column(op) -> None:
    """For a service's Alembic migration: the outbox's `headers` (see OutboxMixin)."""
    op.add_column("outbox", Column("headers", Text(), nullable=True))


def drop_headers_column(op) -> None:
    op.drop_column("outbox", "headers")


def events_exchange(service: str) -> Exchange:
    return Exchange(base_contract.events_exchange_name(service), type="topic", durable=True)


class OutboxMixin:
    """Mix into a service's declarative base as `class OutboxEvent(OutboxMixin, Base)`.

    `ix_outbox_unpublished` indexes only the rows still to publish (a partial index, on PostgreSQL
    and SQLite alike): the relay's "oldest unpublished rows" query reads those and nothing else,
    however many published rows the table holds. Each service's migrations create it too.
    """

    __tablename__ = "outbox"

    @declared_attr.directive
    def __table_args__(cls):
        return (Index(UNPUBLISHED_INDEX, "id", **_UNPUBLISHED_WHERE),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    event_type: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True, index=True)
    # The request id and traceparent of the request that caused the event (telemetry.py), as JSON: the
    # event goes out with them, however much later the relay publishes it.
    headers: Mapped[str | None] = mapped_column(Text, nullable=True)


class ProcessedEventMixin:
    """Mix in as `class ProcessedEvent(ProcessedEventMixin, Base)`: consumers are idempotent on event_id."""

    __tablename__ = "processed_events"
    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(120))
    processed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


def make_event(event_type: str, school_id: int, **ids) -> dict:
    return {"event_id": str(uuid.uuid4()), "event_type": event_type,
            "occurred_at": utcnow().isoformat() + "Z", "school_id": school_id, **ids}


# How far ahead of this process's clock an event may say it happened (the publishers' clocks drift a
# little): the contracts' own allowance.
CLOCK_SKEW = base_contract.CLOCK_SKEW


def untimely(event: dict, now: datetime | None = None) -> str | None:
    """Why an event's `occurred_at` cannot be believed, or None. An event "from the future" would win
    over every genuine one after it wherever the newest fact wins (the staff directory: issue 9), so a
    consumer refuses it whoever signed it."""
    try:
        moment = base_contract.parse_moment(event["occurred_at"])
    except (KeyError, TypeError, AttributeError, ValueError):
        return "occurred_at is not a date and time"
    if moment > (now or utcnow()) + CLOCK_SKEW:
        return "occurred_at is in the future"
    return None


def add_to_outbox(session: Session, outbox_model, event: dict) -> None:
    carried = telemetry.outgoing()
    session.add(outbox_model(event_id=event["event_id"], event_type=event["event_type"],
                             body=json.dumps(event), headers=json.dumps(carried) if carried else None))


_CLAIM_STATEMENTS: dict[str, object] = {}


def _claim_statement(processed_model):
    """INSERT … ON CONFLICT DO NOTHING RETURNING, as text: SQLAlchemy does not cache the compiled
    form of its own `on_conflict_do_nothing()` construct, and compiling it cost more than running it."""
    table = processed_model.__table__.name
    if table not in _CLAIM_STATEMENTS:
        _CLAIM_STATEMENTS[table] = text(
            f"INSERT INTO {table} (event_id, event_type, processed_at) "  # noqa: S608 - a table name from the code
            "VALUES (:event_id, :event_type, :processed_at) ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
        ).bindparams(bindparam("event_id", type_=String()), bindparam("event_type", type_=String()),
                     bindparam("processed_at", type_=DateTime()))
    return _CLAIM_STATEMENTS[table]


def already_processed(session: Session, processed_model, event: dict) -> bool:
    """Claim an event for this transaction; False the first time, True for a redelivery.

    One statement (INSERT … ON CONFLICT DO NOTHING RETURNING) on PostgreSQL and SQLite: when two
    instances hold copies of one event at once, the second waits for the first's transaction and
    then sees the event as processed, rather than failing on the primary key."""
    values = {"event_id": event["event_id"], "event_type": event.get("event_type", ""), "processed_at": utcnow()}
    if session.get_bind().dialect.name in ("postgresql", "sqlite"):
        return session.execute(_claim_statement(processed_model), values).first() is None
    if session.get(processed_model, event["event_id"]) is not None:
        return True
    session.add(processed_model(**values))
    session.flush()
    return False


class EventPublisher:
    """Publishes to `<service>.events` with publisher confirms over one reused connection, each event
    signed with `key`, the process's own (consumers refuse an unsigned one)."""

    def __init__(self, amqp_uri: str, service: str, key: SigningKey):
        self.service = service
        self.exchange = events_exchange(service)
        self.key = key
        self.connection = amqp.connection(amqp_uri, transport_options={"confirm_publish": True})
        self._lock = threading.Lock()  # one channel: publish from one green thread at a time
        self._producer: Producer | None = None

    def publish(self, event_type: str, body: str, event_id: str, stored_headers: str | None = None) -> None:
        """`stored_headers`: the outbox row's `headers`: the event carries the request id and trace of the
        request that caused it (its consumers' spans are children of that request's)."""
        with self._lock:
            self._publish(event_type, body, event_id, telemetry.stored(stored_headers))
        metrics.EVENTS_PUBLISHED.labels(self.service, event_type).inc()

    def _publish(self, event_type: str, body: str, event_id: str, carried: dict) -> None:
        # One producer for as long as its channel lives (kombu re-opens the channel on retry).
        if self._producer is None or self._producer.channel is not self.connection.default_channel:
            self._producer = Producer(self.connection.default_channel, exchange=self.exchange)
        # Signed over the very bytes that travel (kombu sends bytes as they are).
        data = body.encode("utf-8")
        self._producer.publish(data, routing_key=event_type, content_type="application/json",
                               content_encoding="utf-8", delivery_mode=2, message_id=event_id,
                               headers={**carried, **sign(self.key, self.exchange.name, event_type, data)},
                               declare=[self.exchange], retry=True, retry_policy={"max_retries": 3})

    def close(self) -> None:
        self.connection.release()


def claim_unpublished(session: Session, outbox_model, batch: int) -> list:
    """The oldest unpublished rows (id, event_type, body, event_id, headers), through the partial index.

    On PostgreSQL they stay locked (FOR UPDATE SKIP LOCKED) until this transaction ends, so another
    relay — another thread, process or instance — skips them rather than publishing them again.
    SQLite has no row locks: one process per SQLite database (the embedded, single-process setup).
    """
    return session.execute(skip_locked(
        select(outbox_model.id, outbox_model.event_type, outbox_model.body, outbox_model.event_id,
               outbox_model.headers)
        .where(outbox_model.published_at.is_(None)).order_by(outbox_model.id).limit(batch), session)).all()


def mark_published(session: Session, outbox_model, ids: list[int]) -> None:
    if ids:
        session.execute(update(outbox_model).where(outbox_model.id.in_(ids)).values(published_at=utcnow()))


def prune_published(session: Session, outbox_model, retention: timedelta = OUTBOX_RETENTION,
                    batch: int = PRUNE_BATCH, now: datetime | None = None) -> int:
    """Delete up to `batch` rows published longer ago than `retention`; how many went."""
    cutoff = (now or utcnow()) - retention
    old = (select(outbox_model.id).where(outbox_model.published_at < cutoff)
           .order_by(outbox_model.published_at).limit(batch))
    return session.execute(delete(outbox_model).where(outbox_model.id.in_(old.scalar_subquery()))
                           .execution_options(synchronize_session=False)).rowcount or 0


_last_pruned: dict[tuple[str, str], float] = {}


def prune_due(session: Session, model, interval: float = PRUNE_INTERVAL_SECONDS) -> bool:
    """True at most once per `interval` for this process and table (the outbox; the spent actor
    contexts, spent.py). Only a schedule: two processes pruning at once delete disjoint or
    already-deleted rows."""
    key = (str(session.get_bind().url), model.__tablename__)
    now = time.monotonic()
    if now - _last_pruned.get(key, float("-inf")) < interval:
        return False
    _last_pruned[key] = now
    return True


def claim_or_prune(session: Session, outbox_model, batch: int) -> list:
    """The rows to publish (claim_unpublished); on a pass with none, old published rows may be pruned."""
    rows = claim_unpublished(session, outbox_model, batch)
    if not rows and prune_due(session, outbox_model):
        pruned = prune_published(session, outbox_model)
        session.commit()
        if pruned:
            log.info("pruned %d published event(s) from the outbox", pruned)
    return rows


def relay_outbox(session: Session, outbox_model, publisher: EventPublisher, batch: int = 100) -> int:
    """Publish up to `batch` unpublished events in id order; returns how many went out.

    The rows are claimed together (claim_unpublished: locked on PostgreSQL, so two relays never
    publish the same event), published one after another, each confirmed by the broker, and marked
    published in one UPDATE and one commit. A publish that fails stops the pass: what the broker
    had confirmed before it is marked and committed, the failed row and those after it stay
    unpublished for the next pass, and the error is raised. Should a relay die between a confirm
    and the commit, those events go again and consumers, idempotent on event_id, ignore the copies.
    A pass that finds nothing to publish may prune old published rows (prune_published).
    """
    rows = claim_or_prune(session, outbox_model, batch)
    if not rows:
        return 0
    done: list[int] = []
    try:
        for row_id, event_type, body, event_id, headers in rows:
            publisher.publish(event_type, body, event_id, headers)
            done.append(row_id)
    finally:
        mark_published(session, outbox_model, done)
        session.commit()
    log.debug("relayed %d event(s)", len(done))
    return len(done)
