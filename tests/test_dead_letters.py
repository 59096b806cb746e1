"""Parked messages keep their bytes and where they came from, and `dlq replay` puts them back."""
from __future__ import annotations

import time

import pika
from kombu import Connection, Exchange, Queue

from services.common import dlq
from services.common.nameko_ext import park


def test_park_then_replay_returns_the_message_to_its_exchange(stack):
    exchange = Exchange("haven-test-dlq", type="topic", durable=False)
    target = Queue("haven-test-dlq-target", exchange=exchange, routing_key="something_happened")
    with Connection(stack.amqp_uri) as conn:
        target(conn.default_channel).declare()
        producer = conn.Producer()
        producer.publish(b'{"event_id": "e-1"}', exchange=exchange, routing_key="something_happened",
                         content_type="application/json", content_encoding="utf-8", headers={"x-keep": "yes"})
        with conn.SimpleQueue(target) as q:
            message = q.get(timeout=5)
            park(stack.amqp_uri, "haven-test-dlq-target", message, "handler failed 6 times")
            message.ack()

    connection = pika.BlockingConnection(pika.URLParameters(stack.amqp_uri))
    try:
        channel = connection.channel()
        assert channel.queue_declare("haven-test-dlq-target.dead-letter", passive=True).method.message_count == 1
        assert dlq.replay(channel, "haven-test-dlq-target") == 1
        deadline = time.time() + 5
        while time.time() < deadline:
            method, props, body = channel.basic_get("haven-test-dlq-target", auto_ack=True)
            if method:
                break
            time.sleep(0.1)
        assert body == b'{"event_id": "e-1"}'
        assert props.headers.get("x-keep") == "yes" and "x-haven-reason" not in props.headers
        assert method.exchange == "haven-test-dlq" and method.routing_key == "something_happened"
        for queue in ("haven-test-dlq-target", "haven-test-dlq-target.dead-letter"):
            channel.queue_delete(queue)
        channel.exchange_delete("haven-test-dlq")
    finally:
        connection.close()
