"""Nameko extensions every Haven service uses instead of the stock ones.

- `rpc`: survives malformed requests (no content type, no reply_to, undecodable or mis-shaped
  bodies): they are moved to `<service>.dead-letter` and acked, and the service carries on.
- `event_handler`: an event its publisher did not sign, or from the future, is parked at once
  (signed.py; issue 9); a handler that raises is retried with back-off through a TTL queue and,
  when the retries run out, parked in `<queue>.dead-letter` for an operator to replay (DESIGN rule 5).

The transaction, the actor check and the outbox relay are the one adapter's (adapter.py).
"""
from __future__ import annotations

import json
import logging
import re

from kombu import Exchange, Producer, Queue
from nameko import constants as nameko_config
from nameko import exceptions as nameko_exceptions
from nameko.events import EventHandler
from nameko.messaging import QueueConsumer
from nameko.rpc import Rpc, RpcConsumer
from pydantic import ValidationError

from .contracts.base import events_exchange_name, where_invalid
from . import amqp, errors, metrics, signed, telemetry, topology
from .errors import HavenError
from .dlq import RETRY_HEADER
from .events import untimely

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


def _typed(queue: Queue, container) -> Queue:
    """`queue` declared with the type HAVEN_QUEUE_TYPE names (topology.py, "Queue types"). Settings
    without one (a test's stand-in) mean classic."""
    queue_type = getattr(container.config.get("SETTINGS"), "queue_type", None) or topology.CLASSIC
    queue.queue_arguments = {**(queue.queue_arguments or {}), **topology.queue_arguments(queue_type)}
    return queue


def _raw_publish(amqp_uri: str, body, routing_key: str, declare: list, **properties) -> None:
    with amqp.connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
        producer = Producer(conn.default_channel, exchange=Exchange(""))
        producer.publish(body, routing_key=routing_key, declare=declare, delivery_mode=2,
                         retry=True, retry_policy={"max_retries": 3}, **properties)


def park(amqp_uri: str, queue: Queue | str, message, reason: str) -> None:
    """Move a message we cannot handle to `<queue>.dead-letter`, keeping its bytes and headers. Given the
    queue itself, its dead-letter queue is declared of the same type; given a name, classic."""
    queue_name, queue_type = (queue, topology.CLASSIC) if isinstance(queue, str) else (queue.name, topology.type_of(queue))
    dlq = topology.dead_letter_queue(queue_name, queue_type)
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

    @property
    def amqp_uri(self):
        """HAVEN_AMQP_URI as configured, TLS options included: Nameko's own AMQP_URI lacks them (they
        are in AMQP_SSL, amqp.nameko_config), and park() and the retries connect with this one."""
        return self.container.config.get(amqp.FULL_URI_KEY) or super().amqp_uri

    @property
    def connection(self):
        """Nameko's consumer connection, made from the URI above."""
        config = self.container.config
        return amqp.connection(
            self.amqp_uri, heartbeat=config.get(nameko_config.HEARTBEAT_CONFIG_KEY, nameko_config.DEFAULT_HEARTBEAT),
            transport_options=config.get(nameko_config.TRANSPORT_OPTIONS_CONFIG_KEY,
                                         nameko_config.DEFAULT_TRANSPORT_OPTIONS),
            login_method=config.get(nameko_config.LOGIN_METHOD_CONFIG_KEY))

    def get_consumers(self, consumer_cls, channel):
        consumers = super().get_consumers(consumer_cls, channel)
        for provider, consumer in self._consumers.items():
            consumer.on_decode_error = self._decode_error_handler(provider)
        return consumers

    def _decode_error_handler(self, provider):
        def on_decode_error(message, exc):
            park(self.amqp_uri, provider.queue, message, f"undecodable: {decode_problem(exc)}")
            self.ack_message(message)
        return on_decode_error


def decode_problem(exc: BaseException) -> str:
    """Why a body did not decode, without any of the body: the repr of a UnicodeDecodeError holds every
    byte of it (a child's account, in a malformed message), and the reason goes to the log."""
    cause = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else exc  # kombu wraps it
    if isinstance(cause, UnicodeDecodeError):
        return f"not {cause.encoding} ({cause.reason} at byte {cause.start})"
    if isinstance(cause, json.JSONDecodeError):  # its message is a position, never the text
        return f"not JSON ({cause})"
    return type(cause).__name__


class HardenedRpcConsumer(RpcConsumer):
    queue_consumer = HardenedQueueConsumer()

    def setup(self):
        super().setup()
        _typed(self.queue, self.container)

    def handle_message(self, body, message):
        problem = self._malformed(body, message)
        if problem:
            park(self.queue_consumer.amqp_uri, self.queue, message, problem)
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

    def unpack_message_headers(self, message):
        """Nameko's context data, with the request id and traceparent of the call (telemetry.py)."""
        return {**super().unpack_message_headers(message), **telemetry.context_data(message.headers)}


rpc = HardenedRpc.decorator


# What of an event id a log line may show (the id is the sender's text until the signature is checked).
_LOGGABLE_ID = re.compile(r"^[A-Za-z0-9-]{1,36}$")
NOT_THIS_HANDLERS_EVENT = "not the event this handler takes"


class RetryingEventHandler(EventHandler):
    """Verifies an event's signature before anything else; retries a failed handler with back-off,
    then parks the event; never drops one silently."""

    queue_consumer = HardenedQueueConsumer()

    def __init__(self, source_service, event_type, payload=None, **kwargs):
        # `payload`: the contract's event model; an event that does not match it can never be
        # handled, so it is parked at once rather than retried.
        self.payload = payload
        super().__init__(source_service, event_type, **kwargs)

    def setup(self):
        super().setup()
        _typed(self.queue, self.container)
        self.key_ring = self.container.config["SETTINGS"].key_ring

    def unpack_message_headers(self, message):
        """Nameko's context data, with the request id and traceparent the event carries (telemetry.py)."""
        return {**super().unpack_message_headers(message), **telemetry.context_data(message.headers)}

    def _count(self, outcome: str) -> None:
        metrics.EVENTS_HANDLED.labels(self.container.service_name, self.event_type, outcome).inc()

    def handle_message(self, body, message):
        problem = self._refusal(body, message)
        if problem:
            # Refused, never handled: an operator sees it in the dead-letter queue. The body stays out
            # of the log (it is whatever the sender wrote).
            log.warning("refused event %s (%s) for %s: %s", _event_id(body, message),
                        "/".join(self._published_on(message)), self.queue.name, problem)
        elif not isinstance(body, dict) or "event_id" not in body:
            problem = "event without event_id"
        elif self.payload is not None:
            try:
                self.payload.model_validate(body)
            except ValidationError as exc:
                problem = f"event does not match its contract: {where_invalid(exc)}"
        if not problem:
            problem = untimely(body)
            if problem:  # signed, so a publisher's clock is wrong: retrying would not mend it
                log.warning("refused event %s (%s) for %s: %s", _event_id(body, message), self.event_type,
                            self.queue.name, problem)
        if problem:
            park(self.queue_consumer.amqp_uri, self.queue, message, problem)
            self.queue_consumer.ack_message(message)
            self._count("refused")
            return
        super().handle_message(body, message)

    def _published_on(self, message) -> tuple[str, str]:
        """The exchange and routing key the event was published with. A retry comes back from the retry
        queue through the default exchange: it was published where this handler subscribes, or it
        would not have been here the first time (and its signature says so)."""
        info = message.delivery_info or {}
        if info.get("exchange"):
            return info["exchange"], info.get("routing_key", "")
        return events_exchange_name(self.source_service), self.event_type

    def _refusal(self, body, message) -> str | None:
        exchange, routing_key = self._published_on(message)
        raw = signed.wire_bytes(message.body, message.content_encoding)
        if raw is None:
            return signed.NOT_UTF8
        problem = signed.refusal(self.key_ring, exchange, routing_key, raw, message.headers, body)
        if problem is None and (exchange, routing_key) != (events_exchange_name(self.source_service), self.event_type):
            problem = NOT_THIS_HANDLERS_EVENT  # a genuine event someone bound this queue to as well
        return problem

    def handle_message_processed(self, message, result=None, exc_info=None):
        if exc_info is not None:
            try:
                self._retry_or_park(message, exc_info[1])
            except Exception:
                # Could not re-publish: leave the event on the broker rather than lose it.
                log.exception("could not schedule a retry; requeueing")
                self.queue_consumer.requeue_message(message)
                self._count("requeued")
                return
        else:
            self._count("ok")
        self.queue_consumer.ack_message(message)

    def _retry_or_park(self, message, exc) -> None:
        amqp_uri = self.queue_consumer.amqp_uri
        attempt = int((message.headers or {}).get(RETRY_HEADER, 1))
        name = self.queue.name
        if attempt >= MAX_ATTEMPTS:
            park(amqp_uri, self.queue, message, f"failed {attempt} times: {type(exc).__name__}")
            self._count("parked")
            return
        delay = BACKOFF_MS[min(attempt - 1, len(BACKOFF_MS) - 1)]
        retry_queue = topology.retry_queue(name, topology.type_of(self.queue))
        headers = dict(message.headers or {}, **{RETRY_HEADER: attempt + 1})
        _raw_publish(amqp_uri, message.body, retry_queue.routing_key, [retry_queue], headers=headers,
                     expiration=delay / 1000, content_type=message.content_type,
                     content_encoding=message.content_encoding)
        self._count("retried")
        log.warning("handler %s failed (%s); retry %d in %d ms", name, type(exc).__name__, attempt, delay)


def _event_id(body, message) -> str:
    event_id = body.get("event_id") if isinstance(body, dict) else None
    event_id = event_id if isinstance(event_id, str) else (message.properties or {}).get("message_id")
    return event_id if isinstance(event_id, str) and _LOGGABLE_ID.match(event_id) else "(no usable id)"


event_handler = RetryingEventHandler.decorator
