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

Queue types (HAVEN_QUEUE_TYPE, README "Quorum queues"). Every durable queue Haven declares — each
service's `rpc-<service>`, each handler's queue, and their `.retry` and `.dead-letter` queues — is a
classic queue or, on a broker cluster, a quorum queue (replicated on several nodes, so losing one loses
no message). They are described once here, with the arguments each kind is declared with; the
processes' own declarations (nameko_ext) and the definitions document (deploy/rabbitmq.py) take them
from here. A queue cannot be redeclared with another type, so at start a process also checks the
queues it consumes from are of the configured type, and names the migration
(`python -m deploy.rabbitmq migrate-queues`, deploy/queue_migration.py) when they are not.
Reply queues are not here: they are exclusive or auto-deleted, and stay classic.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Literal, get_args

from amqp.exceptions import AccessRefused, NotFound, PreconditionFailed
from kombu import Exchange, Queue

from . import contracts
from .amqp import connection

log = logging.getLogger("haven.topology")
RPC_EXCHANGE = "nameko-rpc"
RETRY = ".retry"  # a failed handler's message waits out its back-off here (nameko_ext)
DEAD_LETTER = ".dead-letter"  # where what cannot be handled is parked (nameko_ext.park, dlq.py)

QueueType = Literal["classic", "quorum"]
QUEUE_TYPES = get_args(QueueType)
CLASSIC, QUORUM = QUEUE_TYPES
QUEUE_TYPE_VARIABLE = "HAVEN_QUEUE_TYPE"
MIGRATE_COMMAND = "python -m deploy.rabbitmq migrate-queues --to {}"


class TopologyMissing(RuntimeError):
    """The broker lacks an exchange or a handler queue, and this process may not declare it."""


class QueueTypeMismatch(RuntimeError):
    """Queues exist with another type (or other arguments) than this process declares them with."""

    def __init__(self, names: list[str], queue_type: str):
        self.names = names
        super().__init__(
            f"The broker's queue{'s' if len(names) > 1 else ''} {', '.join(names[:3])}{' …' if len(names) > 3 else ''} "
            f"{'were' if len(names) > 1 else 'was'} not declared as {queue_type} ({QUEUE_TYPE_VARIABLE}={queue_type}), "
            f"and a queue cannot change its type in place. Stop every Haven process and run "
            f"`{MIGRATE_COMMAND.format(queue_type)}` (it keeps the messages waiting in them), or set "
            f"{QUEUE_TYPE_VARIABLE} back.")


def configured_queue_type(queue_type: str | None = None) -> str:
    """`queue_type` as given (a process passes its settings'), else HAVEN_QUEUE_TYPE from the environment
    (the commands), else classic; refuses any other word."""
    queue_type = queue_type or os.environ.get(QUEUE_TYPE_VARIABLE) or CLASSIC
    if queue_type not in QUEUE_TYPES:
        raise ValueError(f"{QUEUE_TYPE_VARIABLE} must be one of {', '.join(QUEUE_TYPES)}, not {queue_type!r}")
    return queue_type


def queue_arguments(queue_type: str) -> dict:
    """A classic queue is declared with no `x-queue-type` at all, exactly as every Haven queue was before
    the setting existed, so an existing deployment's queues are declared again unchanged."""
    if queue_type not in QUEUE_TYPES:
        raise ValueError(f"no queue type {queue_type!r}")
    return {"x-queue-type": QUORUM} if queue_type == QUORUM else {}


def retry_arguments(handler_queue: str, queue_type: str) -> dict:
    """A retry queue holds each message for its own back-off (a per-message TTL, which quorum queues
    honour from RabbitMQ 3.10) and then dead-letters it back into the handler's queue."""
    arguments = {**queue_arguments(queue_type), "x-dead-letter-exchange": "",
                 "x-dead-letter-routing-key": handler_queue}
    if queue_type == QUORUM:
        # A quorum queue dead-letters at most once by default: an expired retry whose handler queue
        # cannot take it at that moment (a node going down) would be dropped. At least once keeps it
        # until the handler's queue has it; RabbitMQ allows that only with reject-publish overflow.
        arguments.update({"x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"})
    return arguments


def retry_queue(handler_queue: str, queue_type: str) -> Queue:
    name = handler_queue + RETRY
    return Queue(name, exchange=Exchange(""), routing_key=name, durable=True,
                 queue_arguments=retry_arguments(handler_queue, queue_type))


def dead_letter_queue(queue: str, queue_type: str) -> Queue:
    name = queue + DEAD_LETTER
    return Queue(name, exchange=Exchange(""), routing_key=name, durable=True,
                 queue_arguments=queue_arguments(queue_type))


def type_of(queue: Queue) -> str:
    """The type a kombu queue is declared with: a queue's retry and dead-letter queues take its own."""
    return (queue.queue_arguments or {}).get("x-queue-type", CLASSIC)


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


def rpc_queue(service: str) -> str:
    """Nameko's name for a service's RPC queue, bound on `nameko-rpc` with `<service>.*`."""
    return f"rpc-{service}"


def rpc_services() -> list[str]:
    return [c.service for c in contracts.ALL if c.methods]


@dataclass(frozen=True)
class DurableQueue:
    """One durable queue as Haven declares it (see "Queue types" above)."""

    name: str
    service: str  # the one that consumes it
    binding: tuple[str, str] | None = None  # (exchange, routing key); None: reached by its name only
    retries_into: str | None = None  # a retry queue: the handler queue it sends messages back to

    def arguments(self, queue_type: str) -> dict:
        return retry_arguments(self.retries_into, queue_type) if self.retries_into else queue_arguments(queue_type)


def durable_queues(service: str | None = None) -> list[DurableQueue]:
    """Every durable queue of `service` (None: of every service): its RPC queue, its handler queues, and
    their retry and dead-letter queues (those two exist once something was retried or parked)."""
    found = []
    for name in rpc_services():
        if service in (None, name):
            rpc = rpc_queue(name)
            found += [DurableQueue(rpc, name, (RPC_EXCHANGE, f"{name}.*")), DurableQueue(rpc + DEAD_LETTER, name)]
    for q in handler_queues():
        if service in (None, q.service):
            found += [DurableQueue(q.name, q.service, (q.exchange, q.routing_key)),
                      DurableQueue(q.name + RETRY, q.service, retries_into=q.name),
                      DurableQueue(q.name + DEAD_LETTER, q.service)]
    return found


def exchanges() -> list[str]:
    return contracts.exchanges()


def needs(service: str | None) -> tuple[list[str], list[HandlerQueue]]:
    """What `service` depends on: the exchanges it consumes from and publishes on, its own handler
    queues, and every handler queue its events feed. None: everything."""
    if service is None:
        return exchanges(), handler_queues()
    own = contracts.base.events_exchange_name(service)
    queues = [q for q in handler_queues() if q.exchange == own or q.service == service]
    names = [RPC_EXCHANGE, own, *(q.exchange for q in queues)]
    return [n for n in exchanges() if n in names], queues


def declare_all(amqp_uri: str, queue_type: str | None = None) -> None:
    """Every exchange, every handler queue and its binding (an administrator's account)."""
    queue_type = configured_queue_type(queue_type)
    with connection(amqp_uri) as conn:
        channel = conn.default_channel
        for name in exchanges():
            Exchange(name, type="topic", durable=True)(channel).declare()
        for q in handler_queues():
            exchange = Exchange(q.exchange, type="topic", durable=True)
            try:
                Queue(q.name, exchange=exchange, routing_key=q.routing_key, durable=True,
                      queue_arguments=queue_arguments(queue_type))(channel).declare()
            except PreconditionFailed:
                raise QueueTypeMismatch([q.name], queue_type) from None


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


def of_another_type(amqp_uri: str, service: str | None = None, queue_type: str | None = None) -> list[str]:
    """`service`'s durable queues (None: every one) that exist on the broker declared otherwise than
    `queue_type` says. Checked by declaring each existing queue again as this process would: the same
    declaration changes nothing, another is refused (PRECONDITION_FAILED). A queue this account may not
    configure is another process's to check."""
    queue_type = configured_queue_type(queue_type)
    wrong = []
    with connection(amqp_uri) as conn:
        for q in durable_queues(service):
            channel = conn.channel()  # the broker closes a channel on each refusal
            try:
                channel.queue_declare(q.name, passive=True)
                channel.queue_declare(q.name, durable=True, auto_delete=False, arguments=q.arguments(queue_type))
            except (NotFound, AccessRefused):
                continue
            except PreconditionFailed:
                wrong.append(q.name)
                continue
            channel.close()
    return wrong


def declare(amqp_uri: str, service: str | None = None, queue_type: str | None = None) -> None:
    """At a process's start: make sure what `service` needs exists (see the module's docstring), and
    that the queues it consumes from are of the configured type."""
    queue_type = configured_queue_type(queue_type)
    absent = missing(amqp_uri, service)
    if absent:
        try:
            declare_all(amqp_uri, queue_type)
        except AccessRefused:
            raise TopologyMissing(
                f"The broker has no {', '.join(absent[:3])}{' …' if len(absent) > 3 else ''}, and this process's "
                "broker user may not declare it. Run `python -m deploy.rabbitmq apply` (it declares the users, "
                "their permissions and the topology) before starting Haven.") from None
        log.info("declared the broker topology (%d missing)", len(absent))
    # Each service checks the queues it consumes from; the gateway consumes from none of them.
    wrong = of_another_type(amqp_uri, service, queue_type) if service else []
    if wrong:
        raise QueueTypeMismatch(wrong, queue_type)
