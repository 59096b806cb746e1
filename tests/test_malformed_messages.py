"""A malformed AMQP message on a service's RPC queue is parked, and the service carries on."""
from __future__ import annotations

import time

import pika
import pytest

from .stack import SERVICES

BAD = [
    (b'{"args": [], "kwargs": {}}', dict(reply_to="nowhere", correlation_id="1")),  # no content_type
    (b'{"args": [], "kwargs": {}}', dict(content_type="application/json", correlation_id="2")),  # no reply_to
    (b"{this is not json", dict(content_type="application/json", reply_to="nowhere", correlation_id="3")),
    (b'["a list"]', dict(content_type="application/json", reply_to="nowhere", correlation_id="4")),
]


def dead_letters(channel, service: str) -> int:
    return channel.queue_declare(f"rpc-{service}.dead-letter", durable=True, passive=True).method.message_count


@pytest.mark.parametrize("service", SERVICES)
def test_service_survives_malformed_rpc_messages(stack, api, service):
    conn = pika.BlockingConnection(pika.URLParameters(stack.amqp_uri))
    try:
        channel = conn.channel()
        for body, props in BAD:
            channel.basic_publish("nameko-rpc", f"{service}.health", body, pika.BasicProperties(**props))
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                if dead_letters(channel, service) >= len(BAD):
                    break
            except pika.exceptions.ChannelClosedByBroker:
                channel = conn.channel()  # the dead-letter queue is not there yet
            time.sleep(0.2)
        assert dead_letters(channel, service) >= len(BAD)
    finally:
        conn.close()
    assert stack.alive(service), stack.log(service)[-2000:]
    r = api().get("/api/v1/health")
    assert r.json()["services"][service] == "ok"
