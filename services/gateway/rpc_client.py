"""The gateway's RPC client: Nameko's wire protocol over one long-lived pika connection.

Runs on the web server's asyncio loop (pika's AsyncioConnection), so a call never blocks it and
many calls are in flight at once, matched to replies by correlation id. Every request carries
`content_type`, `correlation_id` and `reply_to` (Nameko crashes without them), a per-message
expiry equal to the call's timeout (so a request that timed out is never carried out later), and
is published `mandatory`: when no service queue is bound for the method the broker returns it at
once and the caller gets ServiceUnavailable rather than waiting for the timeout. The connection is
re-opened with back-off after a broker restart.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid

import pika
from pika.adapters.asyncio_connection import AsyncioConnection

from services.common import amqp, metrics, telemetry
from services.common.contracts.base import events_exchange_name
from services.common.errors import HavenError, ServiceTimeout, ServiceUnavailable, error_from_remote

log = logging.getLogger("haven.gateway.rpc")

RPC_EXCHANGE = "nameko-rpc"


class RemoteFault(HavenError):
    """An unexpected error inside a service; the detail stays in that service's log."""

    status_code = 500
    default_message = "Something went wrong inside Haven. The error has been logged."


class RpcClient:
    def __init__(self, amqp_uri: str, default_timeout: float = 10.0, reconnect_max_delay: float = 10.0,
                 connection_name: str = "haven-gateway"):
        self.parameters = amqp.pika_parameters(amqp_uri)
        self.parameters.heartbeat = 30
        self.parameters.client_properties = {"connection_name": connection_name}
        self.default_timeout = default_timeout
        self.reconnect_max_delay = reconnect_max_delay
        self.reply_to = f"rpc.reply-gateway-{uuid.uuid4().hex}"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connection: AsyncioConnection | None = None
        self._rpc_channel = None
        self._event_channel = None
        self._ready = asyncio.Event()
        self._pending: dict[str, tuple[asyncio.Future, str]] = {}
        self._confirms: dict[int, asyncio.Future] = {}
        self._delivery_tag = 0
        self._closing = False
        self._reconnect_delay = 0.5

    # --- connection lifecycle -------------------------------------------------------------
    async def start(self, wait: float = 30.0) -> None:
        self._loop = asyncio.get_running_loop()
        self._connect()
        await asyncio.wait_for(self._ready.wait(), wait)

    async def close(self) -> None:
        self._closing = True
        if self._connection and not self._connection.is_closed:
            self._connection.close()
        self._fail_all(ServiceUnavailable("Haven is shutting down."))

    @property
    def connected(self) -> bool:
        return self._ready.is_set()

    def _connect(self) -> None:
        self._connection = AsyncioConnection(
            self.parameters, on_open_callback=self._on_open, on_open_error_callback=self._on_open_error,
            on_close_callback=self._on_closed, custom_ioloop=self._loop)

    def _schedule_reconnect(self) -> None:
        if self._closing:
            return
        delay = self._reconnect_delay
        self._reconnect_delay = min(self._reconnect_delay * 2, self.reconnect_max_delay)
        log.warning("broker connection lost; reconnecting in %.1fs", delay)
        self._loop.call_later(delay, self._connect)

    def _on_open_error(self, _conn, exc) -> None:
        log.warning("cannot connect to the broker: %r", exc)  # its str() is empty for a refused certificate
        self._schedule_reconnect()

    def _on_closed(self, _conn, reason) -> None:
        self._ready.clear()
        self._rpc_channel = self._event_channel = None
        self._fail_all(ServiceUnavailable("The connection to the message broker was lost. Please try again."))
        self._schedule_reconnect()

    def _on_open(self, connection) -> None:
        connection.channel(on_open_callback=self._on_rpc_channel)

    def _on_rpc_channel(self, channel) -> None:
        self._rpc_channel = channel
        channel.add_on_return_callback(self._on_returned)
        channel.add_on_close_callback(self._on_channel_closed)
        channel.exchange_declare(RPC_EXCHANGE, exchange_type="topic", durable=True,
                                 callback=lambda _f: channel.queue_declare(
                                     self.reply_to, exclusive=True, auto_delete=True,
                                     callback=lambda _f: channel.queue_bind(
                                         self.reply_to, RPC_EXCHANGE, routing_key=self.reply_to,
                                         callback=lambda _f: self._start_consuming(channel))))

    def _start_consuming(self, channel) -> None:
        channel.basic_consume(self.reply_to, self._on_reply, auto_ack=True)
        self._connection.channel(on_open_callback=self._on_event_channel)

    def _on_event_channel(self, channel) -> None:
        self._event_channel = channel
        self._delivery_tag = 0
        channel.add_on_close_callback(self._on_channel_closed)
        channel.confirm_delivery(self._on_confirm, callback=lambda _f: self._became_ready())

    def _became_ready(self) -> None:
        self._reconnect_delay = 0.5
        self._ready.set()
        log.info("connected to the broker")

    def _on_channel_closed(self, channel, reason) -> None:
        # A channel closed under us (e.g. a declare was refused): reset the whole connection.
        if self._connection and self._connection.is_open:
            log.warning("channel closed: %s", reason)
            self._connection.close()

    def _fail_all(self, exc: Exception) -> None:
        for future, _service in self._pending.values():
            if not future.done():
                future.set_exception(exc)
        self._pending.clear()
        for future in self._confirms.values():
            if not future.done():
                future.set_exception(exc)
        self._confirms.clear()

    # --- calls ----------------------------------------------------------------------------
    async def call(self, service: str, method: str, *args, timeout: float | None = None, **kwargs):
        return await self.send(service, method, list(args), kwargs, timeout)

    async def send(self, service: str, method: str, args: list, kwargs: dict, timeout: float | None = None):
        """`call` with the arguments as they go on the wire (a command may have a field named `timeout`)."""
        timeout = self.default_timeout if timeout is None else timeout
        if not self._ready.is_set():
            try:
                await asyncio.wait_for(self._ready.wait(), min(timeout, 3.0))
            except asyncio.TimeoutError:
                raise ServiceUnavailable("Haven cannot reach its message broker. Please try again.",
                                         service) from None
        correlation_id = uuid.uuid4().hex
        future = self._loop.create_future()
        self._pending[correlation_id] = (future, service)
        body = json.dumps({"args": args, "kwargs": kwargs}).encode()
        outcome, started = "fault", time.perf_counter()
        with telemetry.tracer.start_as_current_span(
                f"{service}.{method}", kind=telemetry.SpanKind.CLIENT,
                attributes={"rpc.system": "nameko", "rpc.service": service, "rpc.method": method}) as span:
            properties = pika.BasicProperties(
                content_type="application/json", content_encoding="utf-8", correlation_id=correlation_id,
                reply_to=self.reply_to, expiration=str(max(1, int(timeout * 1000))), delivery_mode=1,
                headers=telemetry.outgoing() or None)  # the request id, and this span as traceparent
            try:
                self._rpc_channel.basic_publish(RPC_EXCHANGE, f"{service}.{method}", body, properties,
                                                mandatory=True)
                result = await asyncio.wait_for(future, timeout)
                outcome = "ok"
                return result
            except asyncio.TimeoutError:
                outcome = "timeout"
                raise ServiceTimeout(service=service) from None
            except (pika.exceptions.AMQPError, AttributeError):
                outcome = "unavailable"
                raise ServiceUnavailable("The connection to the message broker was lost. Please try again.",
                                         service) from None
            except ServiceUnavailable:
                outcome = "unavailable"
                raise
            except RemoteFault:
                raise
            except HavenError:
                outcome = "domain_error"
                raise
            finally:
                self._pending.pop(correlation_id, None)
                span.set_attribute("haven.outcome", outcome)
                metrics.RPC_CLIENT_SECONDS.labels(service, method, outcome).observe(time.perf_counter() - started)

    def _on_returned(self, _channel, method, properties, _body) -> None:
        entry = self._pending.get(properties.correlation_id)
        if entry and not entry[0].done():
            service = entry[1]
            entry[0].set_exception(ServiceUnavailable(f"The {service} service is not running.", service))

    def _on_reply(self, _channel, _method, properties, body) -> None:
        entry = self._pending.get(properties.correlation_id)
        if entry is None or entry[0].done():
            return  # a reply to a call that already timed out
        future, service = entry
        try:
            reply = json.loads(body)
        except ValueError:
            future.set_exception(RemoteFault())
            return
        error = reply.get("error")
        if error is None:
            future.set_result(reply.get("result"))
            return
        domain_error = error_from_remote(error.get("exc_type"), error.get("exc_args"))
        if domain_error is None:
            log.error("unexpected %s from the %s service", error.get("exc_type"), service)
            domain_error = RemoteFault()
        future.set_exception(domain_error)

    # --- events (publisher confirms) ----------------------------------------------------------
    async def publish_event(self, source: str, event_type: str, body: bytes, event_id: str,
                            headers: dict | None = None, timeout: float = 10.0) -> None:
        """Publish `body` (UTF-8 JSON) to `<source>.events` and wait for the broker's confirm; `headers`
        carry its signature over these very bytes (relay.py)."""
        if not self._ready.is_set():
            await asyncio.wait_for(self._ready.wait(), timeout)
        self._delivery_tag += 1
        future = self._loop.create_future()
        self._confirms[self._delivery_tag] = future
        self._event_channel.basic_publish(
            events_exchange_name(source), event_type, body,
            pika.BasicProperties(content_type="application/json", content_encoding="utf-8",
                                 delivery_mode=2, message_id=event_id, headers=headers))
        await asyncio.wait_for(future, timeout)

    def _on_confirm(self, frame) -> None:
        method = frame.method
        acked = isinstance(method, pika.spec.Basic.Ack)
        tags = [t for t in self._confirms if t <= method.delivery_tag] if method.multiple else [method.delivery_tag]
        for tag in tags:
            future = self._confirms.pop(tag, None)
            if future and not future.done():
                if acked:
                    future.set_result(None)
                else:
                    future.set_exception(ServiceUnavailable("The broker refused an event."))
