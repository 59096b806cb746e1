"""Dead-lettered events (DESIGN rule 5): how many wait behind each event handler, and putting them back
(an administrator's job, from the pages or the JSON API, as `python -m services.common.dlq` does).

Only the handlers' queues the contracts declare can be named: anything else is "not found" here and never
reaches the broker. The broker is asked over a short-lived blocking connection in a worker thread, as an
administrator asks rarely and the gateway's RPC connection is not for this. A count is all that is shown:
a parked event's body names records, and is not for an administrator to read.
"""
from __future__ import annotations

import logging

import pika.exceptions
from starlette.concurrency import run_in_threadpool

from services.common import contracts, dlq
from services.common.errors import NotFound, ServiceUnavailable

from .context import AuditLabel, Context

log = logging.getLogger("haven.gateway.dead_letters")
REPLAY = AuditLabel("replay_dead_letters", "dead_letter_queue")
BROKER_DOWN = "The message broker could not be reached, so the dead letters cannot be shown or replayed now. " \
              "Try again in a minute."


def known_queues() -> dict[str, dict]:
    """Each event handler's queue → which service handles which event there."""
    return {s.queue: {"queue": s.queue, "service": s.service, "handler": s.handler,
                      "event": f"{s.event.service}.{s.event.name}"} for s in contracts.subscriptions()}


def _on_broker(amqp_uri: str, work):
    try:
        with dlq.open_channel(amqp_uri) as channel:
            return work(channel)
    except (pika.exceptions.AMQPError, OSError) as exc:
        log.warning("dead letters: the broker did not answer (%s)", type(exc).__name__)
        raise ServiceUnavailable(BROKER_DOWN) from None


async def list_dead_letters(ctx: Context, user) -> list[dict]:
    """Every handler's queue with the number of events parked behind it (0 when none ever were)."""
    queues = known_queues()
    names = [name + dlq.SUFFIX for name in queues]
    counts = await run_in_threadpool(_on_broker, ctx.settings.amqp_uri,
                                     lambda channel: dlq.list_dead_letters(channel, names))
    return [{**about, "messages": counts.get(name + dlq.SUFFIX, 0)} for name, about in queues.items()]


async def replay(ctx: Context, user, queue: str) -> dict:
    """Put every event parked behind `queue` back where it first arrived; audited with the count."""
    if queue not in known_queues():
        raise NotFound("There is no such event handler's queue.")
    try:
        moved = await run_in_threadpool(_on_broker, ctx.settings.amqp_uri,
                                        lambda channel: dlq.replay(channel, queue))
    except ServiceUnavailable:
        await ctx.audit(user, REPLAY, None, "failed:503", detail=queue)
        raise
    await ctx.audit(user, REPLAY, None, "ok", detail=f"{queue}: {moved} replayed")
    return {"queue": queue, "replayed": moved}
