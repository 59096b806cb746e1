"""Nameko extensions every Haven service uses instead of the stock ones.

- `rpc`: survives malformed requests (no content type, no reply_to, undecodable or mis-shaped
  bodies): they are moved to `<service>.dead-letter` and acked, and the service carries on.
- `event_handler`: a handler that raises is retried with back-off through a TTL queue and, when
  the retries run out, parked in `<queue>.dead-letter` for an operator to replay (DESIGN rule 5).

The transaction, the actor check and the outbox relay are the one adapter's (adapter.py).
"""
from __future__ import annotations

import logging

from kombu import Connection, Exchange, Producer, Queue
from nameko import exceptions as nameko_exceptions
from nameko.events import EventHandler
from nameko.messaging import QueueConsumer
from nameko.rpc import Rpc, RpcConsumer
from pydantic import ValidationError

from .contracts.base import where_invalid
from . import errors
from .errors import HavenError
from .dlq import RETRY_HEADER

log = logging.getLogger(__name__)


def _register_remote_errors() -> None:
    """A service calling another gets Haven's domain errors back as the same local types.

    Nameko rebuilds a registered exception as `cls(*exc_args)`; our errors' constructors take
    their arguments in other orders, so each is rebuilt through `error_from_remote` instead.
    """
    for name in errors.ALL_ERRORS:
        nameko_exceptions.registry.setdefault(
            f"{errors.__name__}.{name}", lambda *args, _name=name: errors.error_from_remote(_name, list(args)))


_register_remote_errors()

MAX_ATTEMPTS = 6
BACKOFF_MS = (500, 2_000, 8_000, 30_000, 120_000)


def dead_letter_queue(name: str) -> Queue:
    return Queue(f"{name}.dead-letter", exchange=Exchange(""), routing_key=f"{name}.dead-letter",
                 durable=True)


def _raw_publish(amqp_uri: str, body, routing_key: str, declare: list, **properties) -> None:
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
        producer = Producer(conn.default_channel, exchange=Exchange(""))
        producer.publish(body, routing_key=routing_key, declare=declare, delivery_mode=2,
                         retry=True, retry_policy={"max_retries": 3}, **properties)


def park(amqp_uri: str, queue_name: str, message, reason: str) -> None:
    """Move a message we cannot handle to `<queue>.dead-letter`, keeping its bytes and headers."""
    dlq = dead_letter_queue(queue_name)
    props = message.properties or {}
    headers = dict(message.headers or {})
    headers.update({"x-haven-reason": reason[:500],
                    "x-haven-original-routing-key": message.delivery_info.get("routing_key", ""),
                    "x-haven-original-exchange": message.delivery_info.get("exchange", "")})
    _raw_publish(amqp_uri, message.body, dlq.routing_key, [dlq], headers=headers,
                 content_type=props.get("content_type") or "application/octet-stream",
                 content_encoding=props.get("content_encoding") or "binary")
    log.warning("parked a message from %s in %s: %s", queue_name, dlq.name, reason)


class HardenedQueueConsumer(QueueConsumer):
    """A QueueConsumer that parks undecodable messages instead of dying on them."""

    def get_consumers(self, consumer_cls, channel):
        consumers = super().get_consumers(consumer_cls, channel)
        for provider, consumer in self._consumers.items():
            consumer.on_decode_error = self._decode_error_handler(provider)
        return consumers

    def _decode_error_handler(self, provider):
        def on_decode_error(message, exc):
            park(self.amqp_uri, provider.queue.name, message, f"undecodable: {exc!r}")
            self.ack_message(message)
        return on_decode_error


class HardenedRpcConsumer(RpcConsumer):
    queue_consumer = HardenedQueueConsumer()

    def handle_message(self, body, message):
        problem = self._malformed(body, message)
        if problem:
            park(self.queue_consumer.amqp_uri, self.queue.name, message, problem)
            self.queue_consumer.ack_message(message)
            return
        super().handle_message(body, message)

    @staticmethod
    def _malformed(body, message) -> str | None:
        props = message.properties or {}
        if props.get("content_type") != "application/json":
            return "missing or unsupported content_type"
        if not props.get("reply_to"):
            return "missing reply_to"
        if not isinstance(body, dict) or not isinstance(body.get("args"), list) \
                or not isinstance(body.get("kwargs"), dict):
            return "body is not {args: [...], kwargs: {...}}"
        return None


class HardenedRpc(Rpc):
    rpc_consumer = HardenedRpcConsumer()

    def __init__(self, expected_exceptions=HavenError, **kwargs):
        # Domain errors are answers to the caller, not faults of the service.
        super().__init__(expected_exceptions=expected_exceptions, **kwargs)


rpc = HardenedRpc.decorator


class RetryingEventHandler(EventHandler):
    """Retries a failed handler with back-off, then parks the event; never drops it silently."""

    queue_consumer = HardenedQueueConsumer()

    def __init__(self, source_service, event_type, payload=None, **kwargs):
        # `payload`: the contract's event model; an event that does not match it can never be
        # handled, so it is parked at once rather than retried.
        self.payload = payload
        super().__init__(source_service, event_type, **kwargs)

    def handle_message(self, body, message):
        problem = None
        if not isinstance(body, dict) or "event_id" not in body:
            problem = "event without event_id"
        elif self.payload is not None:
            try:
                self.payload.model_validate(body)
            except ValidationError as exc:
                problem = f"event does not match its contract: {where_invalid(exc)}"
        if problem:
            park(self.queue_consumer.amqp_uri, self.queue.name, message, problem)
            self.queue_consumer.ack_message(message)
            return
        super().handle_message(body, message)

    def handle_message_processed(self, message, result=None, exc_info=None):
        if exc_info is not None:
            try:
                self._retry_or_park(message, exc_info[1])
            except Exception:
                # Could not re-publish: leave the event on the broker rather than lose it.
                log.exception("could not schedule a retry; requeueing")
                self.queue_consumer.requeue_message(message)
                return
        self.queue_consumer.ack_message(message)

    def _retry_or_park(self, message, exc) -> None:
        amqp_uri = self.queue_consumer.amqp_uri
        attempt = int((message.headers or {}).get(RETRY_HEADER, 1))
        name = self.queue.name
        if attempt >= MAX_ATTEMPTS:
            park(amqp_uri, name, message, f"failed {attempt} times: {type(exc).__name__}")
            return
        delay = BACKOFF_MS[min(attempt - 1, len(BACKOFF_MS) - 1)]
        retry_queue = Queue(f"{name}.retry", exchange=Exchange(""), routing_key=f"{name}.retry",
                            durable=True, queue_arguments={"x-dead-letter-exchange": "",
                                                           "x-dead-letter-routing-key": name})
        headers = dict(message.headers or {}, **{RETRY_HEADER: attempt + 1})
        _raw_publish(amqp_uri, message.body, retry_queue.routing_key, [retry_queue], headers=headers,
                     expiration=delay / 1000, content_type=message.content_type,
                     content_encoding=message.content_encoding)
        log.warning("handler %s failed (%s); retry %d in %d ms", name, type(exc).__name__, attempt, delay)


event_handler = RetryingEventHandler.decorator
