"""Look at and replay dead-lettered messages.

    python -m services.common.dlq list
    python -m services.common.dlq replay evt-incidents-incident_recorded--alerts.on_incident_recorded

`replay` puts each parked message back where it first arrived (its original exchange and routing
key, kept in its headers), with its retry count reset. Uses HAVEN_AMQP_URI.
"""
from __future__ import annotations

import argparse
import os

import pika

from .nameko_ext import RETRY_HEADER

SUFFIX = ".dead-letter"


def list_dead_letters(channel, names: list[str]) -> dict[str, int]:
    counts = {}
    for name in names:
        try:
            counts[name] = channel.queue_declare(name, passive=True).method.message_count
        except pika.exceptions.ChannelClosedByBroker:
            channel = channel.connection.channel()
    return counts


def replay(channel, queue: str) -> int:
    """Move every message from `<queue>.dead-letter` back to where it came from."""
    moved = 0
    while True:
        method, props, body = channel.basic_get(queue + SUFFIX)
        if method is None:
            return moved
        headers = dict(props.headers or {})
        exchange = headers.pop("x-haven-original-exchange", "")
        routing_key = headers.pop("x-haven-original-routing-key", "") or queue
        headers.pop("x-haven-reason", None)
        headers.pop(RETRY_HEADER, None)
        if exchange == "":
            routing_key = queue  # it came straight to the queue (a retry): send it there again
        props.headers = headers
        channel.basic_publish(exchange, routing_key, body, props)
        channel.basic_ack(method.delivery_tag)
        moved += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["list", "replay"])
    parser.add_argument("queue", nargs="?", help="the original queue name (without .dead-letter)")
    args = parser.parse_args()
    uri = os.environ.get("HAVEN_AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")
    connection = pika.BlockingConnection(pika.URLParameters(uri))
    channel = connection.channel()
    channel.confirm_delivery()
    if args.command == "replay":
        if not args.queue:
            parser.error("replay needs the queue name")
        print(f"replayed {replay(channel, args.queue)} message(s) from {args.queue}{SUFFIX}")
    else:
        from . import contracts
        from .topology import handler_queue_names
        names = [name + SUFFIX for name in handler_queue_names()]
        names += [f"rpc-{c.service}{SUFFIX}" for c in contracts.ALL if c.methods]
        for name, count in list_dead_letters(channel, names).items():
            print(f"{count:6d}  {name}")
    connection.close()


if __name__ == "__main__":
    main()
