"""The exchanges and event-handler queues, declared before anything publishes (DESIGN rule 5): an
event published before its handler's queue exists is lost (a topic exchange drops what it cannot
route, and the outbox retries only when the broker fails, not when nobody listens).

The list is derived from the contracts (`services/common/contracts`): a handler is declared there
as a subscription, and the service's handler can only be bound to a declared subscription, so a
handler's queue cannot be missing.

Who declares it. Each process has its own broker user with least privilege (deploy/rabbitmq.py),
which may not declare another service's queues: alerts' queue for `incidents.incident_recorded`
must exist before incidents publishes, whichever starts first. So the whole topology is declared
once, by an administrator's account, before any process starts (`declare_all`, run by
`python -m deploy.rabbitmq apply`, by `make run` and by the test stack). At start each process only
checks (`declare`) that what it consumes from and publishes into is there: passive declares, which
need no permission and change nothing. When something is missing it declares the whole topology if
its account may (a development broker's administrator), and otherwise refuses to start, saying which
step was skipped, rather than publish events into nowhere.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from amqp.exceptions import AccessRefused, NotFound
from kombu import Exchange, Queue

from . import contracts
from .amqp import connection

log = logging.getLogger("haven.topology")
RPC_EXCHANGE = "nameko-rpc"


class TopologyMissing(RuntimeError):
    """The broker lacks an exchange or a handler queue, and this process may not declare it."""


@dataclass(frozen=True)
class HandlerQueue:
    """An event handler's durable queue, bound to its publisher's exchange with the event's name."""

    name: str
    exchange: str
    routing_key: str
    service: str  # the one that consumes it


def handler_queues() -> list[HandlerQueue]:
    return [HandlerQueue(s.queue, s.event.exchange, s.event.name, s.service) for s in contracts.subscriptions()]


def handler_queue_names() -> list[str]:
    return [q.name for q in handler_queues()]


def exchanges() -> list[str]:
    return contracts.exchanges()


def needs(service: str | None) -> tuple[list[str], list[HandlerQueue]]:
    """What `service` depends on: the exchanges it consumes from and publishes on, its own handler
    queues, and every handler queue its events feed. None: everything."""
    if service is None:
        return exchanges(), handler_queues()
    own = f"{service}.events"
    queues = [q for q in handler_queues() if q.exchange == own or q.service == service]
    names = [RPC_EXCHANGE, own, *(q.exchange for q in queues)]
    return [n for n in exchanges() if n in names], queues


def declare_all(amqp_uri: str) -> None:
    """Every exchange, every handler queue and its binding (an administrator's account)."""
    with connection(amqp_uri) as conn:
        channel = conn.default_channel
        for name in exchanges():
            Exchange(name, type="topic", durable=True)(channel).declare()
        for q in handler_queues():
            exchange = Exchange(q.exchange, type="topic", durable=True)
            Queue(q.name, exchange=exchange, routing_key=q.routing_key, durable=True)(channel).declare()


def missing(amqp_uri: str, service: str | None = None) -> list[str]:
    """The exchanges and queues `service` needs that the broker does not have (passive declares)."""
    wanted_exchanges, wanted_queues = needs(service)
    absent = []
    with connection(amqp_uri) as conn:
        channel = conn.channel()
        for kind, name in [("exchange", n) for n in wanted_exchanges] + [("queue", q.name) for q in wanted_queues]:
            try:
                if kind == "exchange":
                    channel.exchange_declare(name, "topic", passive=True)
                else:
                    channel.queue_declare(name, passive=True)
            except NotFound:
                absent.append(f"{kind} {name}")
                channel = conn.channel()  # the broker closes a channel on a failed passive declare
        channel.close()
    return absent


def declare(amqp_uri: str, service: str | None = None) -> None:
    """At a process's start: make sure what `service` needs exists (see the module's docstring)."""
    absent = missing(amqp_uri, service)
    if not absent:
        return
    try:
        declare_all(amqp_uri)
    except AccessRefused:
        raise TopologyMissing(
            f"The broker has no {', '.join(absent[:3])}{' …' if len(absent) > 3 else ''}, and this process's "
            "broker user may not declare it. Run `python -m deploy.rabbitmq apply` (it declares the users, "
            "their permissions and the topology) before starting Haven.") from None
    log.info("declared the broker topology (%d missing)", len(absent))
