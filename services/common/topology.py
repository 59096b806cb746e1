"""Declares the exchanges and event-handler queues listed in `deploy/topology.yaml`."""
from __future__ import annotations

import os

import yaml
from kombu import Connection, Exchange, Queue

TOPOLOGY_FILE = os.path.join(os.path.dirname(__file__), "..", "..", "deploy", "topology.yaml")


def load(path: str = TOPOLOGY_FILE) -> dict:
    with open(path) as f:
        return yaml.safe_load(f)


def handler_queue_name(source: str, event: str, service: str, handler: str) -> str:
    return f"evt-{source}-{event}--{service}.{handler}"


def declare(amqp_uri: str, path: str = TOPOLOGY_FILE) -> None:
    topology = load(path)
    with Connection(amqp_uri) as conn:
        channel = conn.default_channel
        for name in topology["exchanges"]:
            Exchange(name, type="topic", durable=True)(channel).declare()
        for h in topology["event_handlers"]:
            exchange = Exchange(f"{h['source']}.events", type="topic", durable=True)
            Queue(handler_queue_name(**h), exchange=exchange, routing_key=h["event"],
                  durable=True)(channel).declare()
