"""Declares the exchanges and every event-handler queue before anything publishes (DESIGN rule 5):
an event published before its handler's queue exists would be lost.

The list is derived from the contracts (`services/common/contracts`): a handler is declared there
as a subscription, and the service's handler can only be bound to a declared subscription, so a
handler's queue cannot be missing.
"""
from __future__ import annotations

from kombu import Connection, Exchange, Queue

from . import contracts


def handler_queue_names() -> list[str]:
    return [s.queue for s in contracts.subscriptions()]


def declare(amqp_uri: str) -> None:
    with Connection(amqp_uri) as conn:
        channel = conn.default_channel
        for name in contracts.exchanges():
            Exchange(name, type="topic", durable=True)(channel).declare()
        for s in contracts.subscriptions():
            exchange = Exchange(s.event.exchange, type="topic", durable=True)
            Queue(s.queue, exchange=exchange, routing_key=s.event.name, durable=True)(channel).declare()
