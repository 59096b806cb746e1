"""Change every Haven queue from classic to quorum, or back, keeping the messages waiting in them.

    python -m deploy.rabbitmq migrate-queues --to quorum

A queue cannot change its type in place (the broker refuses to declare it again with another:
PRECONDITION_FAILED), so each queue of the other type is rebuilt through `<queue>.migrating`:

1. its messages are moved into `<queue>.migrating` (of the new type), retry queues first;
2. it is deleted (only if empty) and declared again with the new type, and bound again;
3. the messages are moved back and `<queue>.migrating` is deleted.

Only with every Haven process stopped (gateway and services, every instance): while a queue is being
rebuilt an event published to it would be lost, and a consumer would take messages from under the move.
The command refuses a queue that has consumers. A retry queue's messages wait without their expiry
meanwhile (kept in a header, restored on the way back), so none is dead-lettered into a queue that is
being rebuilt; each starts its back-off again. Run it again after a failure: it carries on from
whatever `.migrating` queues are left. Uses an administrator's account (it deletes and declares every
process's queues).
"""
from __future__ import annotations

import pika

from services.common import topology
from services.common.dlq import open_channel

MIGRATING = ".migrating"
EXPIRATION_HEADER = "x-haven-migrating-expiration"
# Set by a quorum queue on every delivery; the queue the message lands in keeps its own count.
BROKER_HEADERS = ("x-delivery-count",)


class MigrationRefused(RuntimeError):
    """Something is still using a queue, or a queue changed under the migration."""


class Broker:
    """A confirming channel, opened again after each refusal (the broker closes a channel on one)."""

    def __init__(self, channel):
        self.channel = channel

    def _reopen(self):
        self.channel = self.channel.connection.channel()
        self.channel.confirm_delivery()

    def fresh(self):
        """A new channel for the rebuilt queues: RabbitMQ 3.10 remembers per channel the type of each queue
        the channel used, and publishing into a queue rebuilt under the same name closed the whole
        connection (INTERNAL_ERROR)."""
        self.channel.close()
        self._reopen()

    def waiting(self, name: str) -> tuple[int, int] | None:
        """(messages, consumers) of the queue, None when there is no such queue."""
        try:
            ok = self.channel.queue_declare(name, passive=True).method
        except pika.exceptions.ChannelClosedByBroker:
            self._reopen()
            return None
        return ok.message_count, ok.consumer_count

    def declared_as(self, name: str, arguments: dict) -> bool:
        """Whether the existing queue `name` is declared with exactly these arguments."""
        try:
            self.channel.queue_declare(name, durable=True, arguments=arguments)
        except pika.exceptions.ChannelClosedByBroker as refused:
            if refused.reply_code != 406:
                raise
            self._reopen()
            return False
        return True

    def declare(self, q: topology.DurableQueue, queue_type: str) -> None:
        self.channel.queue_declare(q.name, durable=True, arguments=q.arguments(queue_type))
        if q.binding:
            self.channel.queue_bind(q.name, q.binding[0], routing_key=q.binding[1])

    def delete_empty(self, name: str) -> None:
        """Delete `name` once it is empty. Quorum queues refuse if-empty deletes, so it is checked first:
        with every process stopped nothing arrives between the check and the delete."""
        messages, consumers = self.waiting(name) or (0, 0)
        if messages or consumers:
            raise MigrationRefused(f"{name} received messages or consumers during the migration: is every Haven "
                                   "process stopped? Nothing was lost; run the migration again once they are.")
        self.channel.queue_delete(name)

    def move(self, source: str, target: str, to_migrating: bool) -> int:
        """Every message of `source` into `target`, each acked off `source` once the broker confirmed it."""
        moved = 0
        while True:
            method, props, body = self.channel.basic_get(source)
            if method is None:
                return moved
            headers = {k: v for k, v in (props.headers or {}).items() if k not in BROKER_HEADERS}
            if to_migrating and props.expiration is not None:
                headers[EXPIRATION_HEADER], props.expiration = props.expiration, None
            elif not to_migrating and EXPIRATION_HEADER in headers:
                props.expiration = str(headers.pop(EXPIRATION_HEADER))
            props.headers = headers
            self.channel.basic_publish("", target, body, props, mandatory=True)
            self.channel.basic_ack(method.delivery_tag)
            moved += 1


def migrate(amqp_uri: str, to: str, say=print) -> dict[str, int]:
    """Rebuild every Haven queue that is not of type `to`; returns the messages carried per queue."""
    to = topology.configured_queue_type(to)
    # Retry queues first: once their messages wait in `.migrating`, nothing expires into a queue being rebuilt.
    queues = sorted(topology.durable_queues(), key=lambda q: q.retries_into is None)
    carried: dict[str, int] = {}
    with open_channel(amqp_uri) as channel:
        broker = Broker(channel)
        for name in topology.exchanges():
            broker.channel.exchange_declare(name, "topic", durable=True)
        rebuild = []
        for q in queues:
            state = broker.waiting(q.name)
            if state is None or broker.declared_as(q.name, q.arguments(to)):
                continue
            if state[1]:
                raise MigrationRefused(f"{q.name} has {state[1]} consumer(s): stop every Haven process first")
            rebuild.append(q)
        for q in rebuild:
            broker.channel.queue_declare(q.name + MIGRATING, durable=True, arguments=topology.queue_arguments(to))
            broker.move(q.name, q.name + MIGRATING, to_migrating=True)
        broker.fresh()
        for q in rebuild:
            broker.delete_empty(q.name)
            broker.declare(q, to)
            say(f"{q.name}: now {to}")
        broker.fresh()
        for q in queues:  # also what an interrupted run left in `.migrating`
            if broker.waiting(q.name + MIGRATING) is None:
                continue
            broker.declare(q, to)
            carried[q.name] = broker.move(q.name + MIGRATING, q.name, to_migrating=False)
            broker.delete_empty(q.name + MIGRATING)
            if carried[q.name]:
                say(f"{q.name}: {carried[q.name]} message(s) carried over")
    return carried
