"""The one adapter (services/common/adapter.py) with a real broker and real PostgreSQL: a method table
becomes entrypoints, arguments are checked against the contract, and the outbox relay runs after the
commit in its own green thread, so a relay failure never fails a command that has committed.

The service runs in its own (green) process, as in production; see adapter_service.py."""
from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pika
import pytest
from sqlalchemy import func, select

from services.common.actor import Actor, sign
from services.common.adapter import Service, UnitOfWork
from services.common.db import make_engine, session_factory
from services.common.errors import Unauthenticated, ValidationFailed, error_from_remote
from services.common.testing import TEST_KEYS, fresh_database

from .adapter_service import Base, Note, OutboxEvent, SpentToken, note_saved, save_note


@pytest.fixture
def database():
    with fresh_database("haven_adapter_test") as url:
        engine = make_engine(url)
        Base.metadata.create_all(engine)
        yield url, session_factory(engine)
        engine.dispose()


class Bus:
    """A plain pika client: calls the service as the gateway does and hears its events."""

    def __init__(self, amqp_uri):
        self.connection = pika.BlockingConnection(pika.URLParameters(amqp_uri))
        self.channel = self.connection.channel()
        self.channel.exchange_declare("nameko-rpc", "topic", durable=True)
        self.channel.exchange_declare(note_saved.exchange, "topic", durable=True)
        self.events = self.channel.queue_declare("", exclusive=True).method.queue
        self.channel.queue_bind(self.events, note_saved.exchange, routing_key=note_saved.name)
        self.replies = f"adapter-test-replies-{uuid.uuid4().hex[:8]}"
        self.channel.queue_declare(self.replies, exclusive=True)
        self.channel.queue_bind(self.replies, "nameko-rpc", routing_key=self.replies)

    def call(self, method, *args, **kwargs):
        correlation_id = uuid.uuid4().hex
        self.channel.basic_publish(
            "nameko-rpc", f"adaptertest.{method}", json.dumps({"args": list(args), "kwargs": kwargs}),
            pika.BasicProperties(content_type="application/json", correlation_id=correlation_id,
                                 reply_to=self.replies))
        for _method, props, body in self.channel.consume(self.replies, auto_ack=True, inactivity_timeout=20):
            assert props is not None, "the service did not answer"
            if props.correlation_id == correlation_id:
                self.channel.cancel()
                reply = json.loads(body)
                if reply["error"]:
                    raise error_from_remote(reply["error"]["exc_type"], reply["error"]["exc_args"]) or \
                        RuntimeError(reply["error"])
                return reply["result"]

    def events_heard(self, wait: float) -> list[dict]:
        heard = []
        for _method, _props, body in self.channel.consume(self.events, auto_ack=True, inactivity_timeout=wait):
            if body is None:
                break
            heard.append(json.loads(body))
        self.channel.cancel()
        return heard

    def close(self):
        self.connection.close()


@pytest.fixture
def service(vhost, database):
    """Starts the service (and the test's bus client first, so its event queue exists)."""
    started = []

    def start(failed_publishes=0):
        bus = Bus(vhost)
        proc = subprocess.Popen([sys.executable, "-m", "services.common.tests.adapter_service", vhost,
                                 database[0], str(failed_publishes)], stdout=subprocess.PIPE)
        started.append((proc, bus))
        assert proc.stdout.readline().strip() == b"ready"
        return bus

    yield start
    for proc, bus in started:
        bus.close()
        proc.terminate()
        proc.wait(timeout=20)


TEACHER = Actor(user_id=3, school_id=1, name="Ms Teacher", roles=("staff",))


def signed(**kwargs) -> str:
    """A context the gateway would sign for exactly this call of save_note."""
    return sign(TEACHER, TEST_KEYS["gateway"], "adaptertest.save_note", kwargs, 30)


def save(bus, **kwargs):
    return bus.call("save_note", signed(**kwargs), **kwargs)


def test_a_relay_failure_after_the_commit_never_fails_the_command(service, database):
    sessions = database[1]
    bus = service(failed_publishes=3)
    saved = save(bus, pupil_id=7, text="seen at the gate")
    assert saved["pupil_id"] == 7  # the client has the saved record, though its event could not go yet
    with sessions() as session:
        assert session.get(Note, saved["id"]) is not None
    # Each failed pass waits a second; the event arrives on a later pass, once.
    heard = bus.events_heard(wait=8)
    assert [(e["event_type"], e["note_id"]) for e in heard] == [("note_saved", saved["id"])]
    with sessions() as session:
        assert session.scalars(select(OutboxEvent)).one().published_at is not None


def test_arguments_outside_the_contract_are_field_errors_and_nothing_is_saved(service, database):
    bus = service()
    with pytest.raises(ValidationFailed) as refused:
        save(bus, pupil_id=2**70, text="\ud800", colour="red")
    assert {e["field"] for e in refused.value.errors} == {"pupil_id", "text", "colour"}
    with pytest.raises(Unauthenticated):
        bus.call("save_note", "not a token", pupil_id=1, text="x")
    assert save(bus, pupil_id=1, text="x")["pupil_id"] == 1  # still serving
    with database[1]() as session:
        assert [n.pupil_id for n in session.scalars(select(Note))] == [1]


def test_a_use_case_that_does_not_take_the_contracts_fields_is_refused_at_import():
    def wrong(session, actor, pupil):
        return {}

    with pytest.raises(TypeError, match="does not take"):
        type("Broken", (Service,), {"name": "adaptertest", "unit_of_work": UnitOfWork(spent_model=SpentToken),
                                    "methods": {save_note: wrong}})


def test_a_service_that_cannot_remember_spent_contexts_is_refused_at_import():
    with pytest.raises(TypeError, match="spent_model"):
        type("Forgetful", (Service,), {"name": "adaptertest", "unit_of_work": UnitOfWork(OutboxEvent),
                                       "methods": {save_note: lambda session, actor, pupil_id, text: {}}})


def test_a_context_copied_off_the_bus_is_good_once_and_for_its_own_call_only(service, database):
    bus = service()
    token = signed(pupil_id=5, text="first")
    assert bus.call("save_note", token, pupil_id=5, text="first")["pupil_id"] == 5
    with pytest.raises(Unauthenticated):  # replayed as it was
        bus.call("save_note", token, pupil_id=5, text="first")
    with pytest.raises(Unauthenticated):  # re-used with other arguments
        bus.call("save_note", signed(pupil_id=5, text="first"), pupil_id=6, text="changed")
    with database[1]() as session:
        assert [(n.pupil_id, n.text) for n in session.scalars(select(Note))] == [(5, "first")]
        assert session.scalar(select(func.count()).select_from(SpentToken)) == 1
