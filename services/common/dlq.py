"""Look at and replay dead-lettered messages.

    python -m services.common.dlq list
    python -m services.common.dlq replay evt-incidents-incident_recorded--alerts.on_incident_recorded

`replay` puts each parked message back with its retry count reset: an event handler's straight into
that handler's queue, anything else where it first arrived (its original exchange and routing key,
kept in its headers). Uses HAVEN_AMQP_URI. The gateway's administrator pages (/admin/dead-letters) do
the same for the event handlers' queues.
"""
from __future__ import annotations

import argparse
import os
from contextlib import contextmanager

import pika

from . import amqp
from .topology import DEAD_LETTER as SUFFIX
from .topology import handler_queue_names, rpc_queue, rpc_services

# How many times a handler has tried a message (nameko_ext imports it from here: the gateway replays dead
# letters too, and must not load Nameko and eventlet to do it).
RETRY_HEADER = "x-haven-attempt"


def handler_queues() -> list[str]:
    """Every event handler's queue (from the contracts): the dead letters worth replaying, as each event
    is handled idempotently on its `event_id`."""
    return handler_queue_names()


def rpc_queues() -> list[str]:
    """Each service's RPC queue: its dead letters are malformed requests, listed but not worth replaying
    (the caller stopped waiting long ago, and its signed actor context has expired)."""
    return [rpc_queue(service) for service in rpc_services()]


@contextmanager
def open_channel(amqp_uri: str):
    """A short-lived blocking connection's channel, with publisher confirms: a replayed message is acked
    off the dead-letter queue only once the broker has taken it back."""
    parameters = amqp.pika_parameters(amqp_uri)
    parameters.connection_attempts, parameters.socket_timeout = 1, 5
    connection = pika.BlockingConnection(parameters)
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        yield channel
    finally:
        if connection.is_open:
            connection.close()


def list_dead_letters(channel, names: list[str]) -> dict[str, int]:
    """How many messages wait in each of these queues; one that does not exist (nothing was ever
    parked there) is left out."""
    counts = {}
    for name in names:
        try:
            counts[name] = channel.queue_declare(name, passive=True).method.message_count
        except pika.exceptions.ChannelClosedByBroker:
            channel = channel.connection.channel()
            channel.confirm_delivery()
    return counts


def replay(channel, queue: str) -> int:
    """Move every message from `<queue>.dead-letter` back to where it came from: as many as wait there
    now, so a message its handler parks again at once is not replayed in an endless loop."""
    moved = 0
    handlers = set(handler_queues())
    waiting = list_dead_letters(channel, [queue + SUFFIX]).get(queue + SUFFIX, 0)
    while moved < waiting:
        method, props, body = channel.basic_get(queue + SUFFIX)
        if method is None:
            return moved
        headers = dict(props.headers or {})
        exchange = headers.pop("x-haven-original-exchange", "")
        routing_key = headers.pop("x-haven-original-routing-key", "") or queue
        headers.pop("x-haven-reason", None)
        headers.pop(RETRY_HEADER, None)
        if exchange == "" or queue in handlers:
            # Straight back to the queue it was parked from, through the default exchange: that handler
            # alone gets it again (not every other handler of the event), and whoever replays needs no
            # right to publish on the service's events exchange (deploy/rabbitmq.py). Its signature
            # still names the exchange and event it was first published with (signed.py).
            exchange, routing_key = "", queue
        props.headers = headers
        # mandatory: with nowhere to go the broker returns it (UnroutableError), and it stays parked.
        channel.basic_publish(exchange, routing_key, body, props, mandatory=True)
        channel.basic_ack(method.delivery_tag)
        moved += 1
    return moved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["list", "replay"])
    parser.add_argument("queue", nargs="?", help="the original queue name (without .dead-letter)")
    args = parser.parse_args()
    uri = os.environ.get("HAVEN_AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")
    if args.command == "replay" and not args.queue:
        parser.error("replay needs the queue name")
    with open_channel(uri) as channel:
        if args.command == "replay":
            print(f"replayed {replay(channel, args.queue)} message(s) from {args.queue}{SUFFIX}")
        else:
            names = [name + SUFFIX for name in handler_queues() + rpc_queues()]
            for name, count in list_dead_letters(channel, names).items():
                print(f"{count:6d}  {name}")


if __name__ == "__main__":
    main()
