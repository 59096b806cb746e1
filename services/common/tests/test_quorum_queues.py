"""Quorum queues (HAVEN_QUEUE_TYPE=quorum; services/common/topology.py "Queue types"), on the local
one-node broker: the topology and a real service's own queues are declared as quorum queues, a handler's
retries and dead letters keep working on them, a process refuses queues of the other type, and the
migration carries waiting messages from classic queues to quorum ones."""
from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid

import pika
import pytest

from deploy import rabbitmq
from deploy.queue_migration import MigrationRefused, migrate
from services.common import topology
from services.common.dlq import RETRY_HEADER, SUFFIX
from services.common.events import EventPublisher, make_event
from services.common.testing import TEST_KEYS

from .quorum_service import EVENT, HANDLER_QUEUE

WAIT = 30  # seconds: an upper bound for the broker and the service, never a measured duration


def queue_types(amqp_uri: str) -> dict[str, str]:
    return rabbitmq.queue_types_with_rabbitmqctl(rabbitmq.vhost_of(amqp_uri))


@pytest.fixture
def channel(vhost):
    connection = pika.BlockingConnection(pika.URLParameters(vhost))
    channel = connection.channel()
    channel.confirm_delivery()
    yield channel
    connection.close()


def first_message(channel, queue: str):
    """The first message to reach `queue` (polled, on a channel of its own: the service takes a moment to
    retry and park, and the queue may not exist before it does)."""
    deadline = time.monotonic() + WAIT
    poll = channel.connection.channel()
    while time.monotonic() < deadline:
        try:
            method, props, body = poll.basic_get(queue, auto_ack=True)
        except pika.exceptions.ChannelClosedByBroker:  # not declared yet
            poll, method = channel.connection.channel(), None
        if method is not None:
            poll.close()
            return props, body
        time.sleep(0.1)
    raise AssertionError(f"nothing reached {queue}")


def test_the_topology_declared_as_quorum_gives_quorum_queues_and_refuses_the_other_type(vhost):
    topology.declare(vhost, queue_type=topology.QUORUM)
    types = queue_types(vhost)
    assert {types[name] for name in topology.handler_queue_names()} == {"quorum"}
    assert topology.of_another_type(vhost, queue_type=topology.QUORUM) == []
    # A process configured for classic queues refuses to start, naming the way out.
    with pytest.raises(topology.QueueTypeMismatch, match="migrate-queues --to classic") as refused:
        topology.declare(vhost, "alerts", queue_type=topology.CLASSIC)
    assert set(refused.value.names) == {q.name for q in topology.handler_queues() if q.service == "alerts"}
    # So does `apply`, which cannot change a queue's type either.
    assert rabbitmq.queues_of_another_type(types, topology.CLASSIC) == topology.handler_queue_names()


def test_the_definitions_document_declares_the_configured_type():
    passwords = rabbitmq.new_passwords()
    quorum = rabbitmq.definitions("v", passwords, queue_type="quorum")
    assert {json.dumps(q["arguments"]) for q in quorum["queues"]} == {'{"x-queue-type": "quorum"}'}
    assert {json.dumps(q["arguments"]) for q in rabbitmq.definitions("v", passwords, queue_type="classic")["queues"]} \
        == {"{}"}
    with pytest.raises(ValueError, match="HAVEN_QUEUE_TYPE"):
        rabbitmq.definitions("v", passwords, queue_type="mirrored")


def test_a_service_on_quorum_queues_answers_and_its_failing_handler_retries_then_parks(vhost, channel):
    topology.declare(vhost, queue_type=topology.QUORUM)
    channel.queue_declare(HANDLER_QUEUE, durable=True, arguments={"x-queue-type": "quorum"})
    channel.queue_bind(HANDLER_QUEUE, "incidents.events", routing_key=EVENT[1])
    service = subprocess.Popen([sys.executable, "-m", "services.common.tests.quorum_service", vhost, "quorum"],
                               stdout=subprocess.PIPE)
    try:
        assert service.stdout.readline().strip() == b"ready"
        # RPC: the service's own queue is a quorum queue, and it answers.
        replies = channel.queue_declare("", exclusive=True).method.queue
        channel.queue_bind(replies, "nameko-rpc", routing_key=replies)
        channel.basic_publish("nameko-rpc", "quorumtest.echo", json.dumps({"args": ["hello"], "kwargs": {}}),
                              pika.BasicProperties(content_type="application/json", reply_to=replies,
                                                   correlation_id=uuid.uuid4().hex))
        _props, body = first_message(channel, replies)
        assert json.loads(body) == {"result": "hello", "error": None}

        # An event whose handler fails: retried once through `.retry`, then parked in `.dead-letter`.
        event = make_event(EVENT[1], 1, incident_id=7)
        publisher = EventPublisher(vhost, EVENT[0], TEST_KEYS[EVENT[0]])
        publisher.publish(EVENT[1], json.dumps(event), event["event_id"])
        publisher.close()
        props, body = first_message(channel, HANDLER_QUEUE + SUFFIX)
        assert json.loads(body) == event
        assert props.headers[RETRY_HEADER] == 2 and props.headers["x-haven-reason"] == "failed 2 times: RuntimeError"
        assert [death["queue"] for death in props.headers["x-death"]] == [HANDLER_QUEUE + topology.RETRY]

        types = queue_types(vhost)
        for name in ("rpc-quorumtest", HANDLER_QUEUE, HANDLER_QUEUE + topology.RETRY, HANDLER_QUEUE + SUFFIX):
            assert types[name] == "quorum", name
        assert types[replies] == "classic"  # reply queues stay exclusive, and classic
    finally:
        service.terminate()
        service.wait(timeout=30)


def test_the_migration_carries_waiting_messages_from_classic_to_quorum_queues(vhost, channel):
    topology.declare(vhost, queue_type=topology.CLASSIC)
    handler = topology.handler_queues()[0]
    rpc = topology.rpc_queue("incidents")
    # What waits on a classic broker: an event for a handler, one waiting out its back-off, a parked
    # one, and an RPC request.
    channel.queue_declare(rpc, durable=True)
    channel.queue_bind(rpc, "nameko-rpc", routing_key="incidents.*")
    retry, parked = topology.retry_queue(handler.name, "classic"), topology.dead_letter_queue(handler.name, "classic")
    for q in (retry, parked):
        channel.queue_declare(q.name, durable=True, arguments=q.queue_arguments)
    waiting = {handler.name: b"an event", retry.name: b"a retry", parked.name: b"a dead letter", rpc: b"a request"}
    for name, body in waiting.items():
        channel.basic_publish("", name, body, pika.BasicProperties(
            delivery_mode=2, headers={"x-haven-marker": 1}, expiration="600000" if name == retry.name else None))

    # Refused while anything consumes from a queue it would rebuild.
    consumer = pika.BlockingConnection(pika.URLParameters(vhost))
    consumer.channel().basic_consume(rpc, lambda *_: None)
    with pytest.raises(MigrationRefused, match="stop every Haven process"):
        migrate(vhost, "quorum", say=lambda line: None)
    consumer.close()

    carried = migrate(vhost, "quorum", say=lambda line: None)
    assert {name: n for name, n in carried.items() if n} == {name: 1 for name in waiting}
    types = queue_types(vhost)
    assert {types[name] for name in [*waiting, *topology.handler_queue_names()]} == {"quorum"}
    assert not [name for name in types if name.endswith(".migrating")]
    for name, body in waiting.items():
        method, props, got = channel.basic_get(name, auto_ack=True)
        assert got == body and props.headers["x-haven-marker"] == 1, name
        assert props.expiration == ("600000" if name == retry.name else None), name
    # Bound again: an event and a request reach their queues.
    channel.basic_publish(handler.exchange, handler.routing_key, b"after", pika.BasicProperties(delivery_mode=2))
    channel.basic_publish("nameko-rpc", "incidents.get_pupil", b"after", pika.BasicProperties(delivery_mode=2))
    assert channel.basic_get(handler.name, auto_ack=True)[2] == b"after"
    assert channel.basic_get(rpc, auto_ack=True)[2] == b"after"

    # A process configured for quorum now starts; a second migration has nothing to do.
    topology.declare(vhost, "incidents", queue_type=topology.QUORUM)
    assert migrate(vhost, "quorum", say=lambda line: None) == {}

    # And back to classic, a retry waiting out its back-off included.
    channel.basic_publish("", retry.name, b"a retry", pika.BasicProperties(delivery_mode=2, expiration="600000"))
    assert migrate(vhost, "classic", say=lambda line: None)[retry.name] == 1
    assert topology.of_another_type(vhost, queue_type=topology.CLASSIC) == []
    _method, props, body = channel.basic_get(retry.name, auto_ack=True)
    assert (body, props.expiration) == (b"a retry", "600000")
