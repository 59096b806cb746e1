"""Publishes the gateway's outbox (staff-directory events) over the RPC client's confirmed channel.

Several gateways may share one database: each pass claims a batch of the oldest unpublished rows
with `FOR UPDATE SKIP LOCKED` (services.common.events.claim_unpublished) and holds the lock until
the rows are marked published, so two gateways never publish the same event. The batch is
published at once and the broker's confirms are awaited together; only the confirmed rows are
marked, the others stay for the next pass. On SQLite (the embedded, development setup) there are
no row locks: run one gateway per SQLite database.

Each event is signed with the gateway's own key (services/common/signed.py): the alerts service
keeps its staff directory, e-mail addresses included, only from events the gateway signed.
"""
from __future__ import annotations

import asyncio
import logging

from starlette.concurrency import run_in_threadpool

from services.common import metrics, telemetry
from services.common.contracts.base import events_exchange_name
from services.common.events import claim_or_prune, mark_published
from services.common.keys import SigningKey
from services.common.signed import sign

from .models import OutboxEvent

log = logging.getLogger("haven.gateway.relay")
SOURCE = "gateway"
EXCHANGE = events_exchange_name(SOURCE)


def _mark_and_commit(session, ids: list[int]) -> None:
    mark_published(session, OutboxEvent, ids)
    session.commit()


async def relay_once(db, rpc, key: SigningKey, batch: int = 100) -> int:
    """One pass: returns how many events were published (the first failure is raised after the
    confirmed ones are marked)."""
    session = db.factory()
    try:
        rows = await run_in_threadpool(claim_or_prune, session, OutboxEvent, batch)
        if not rows:
            return 0
        # Signed over the bytes that are sent: encoded once, here.
        sent = [(event_type, body.encode(), event_id, telemetry.stored(headers))
                for _id, event_type, body, event_id, headers in rows]
        results = await asyncio.gather(*(rpc.publish_event(SOURCE, event_type, data, event_id,
                                                           headers={**carried, **sign(key, EXCHANGE, event_type, data)})
                                         for event_type, data, event_id, carried in sent), return_exceptions=True)
        done = [row[0] for row, result in zip(rows, results) if not isinstance(result, BaseException)]
        for (event_type, *_), result in zip(sent, results):
            if not isinstance(result, BaseException):
                metrics.EVENTS_PUBLISHED.labels(SOURCE, event_type).inc()
        await run_in_threadpool(_mark_and_commit, session, done)
        failed = next((r for r in results if isinstance(r, BaseException)), None)
        if failed is not None:
            raise failed
        return len(done)
    finally:
        await run_in_threadpool(session.close)  # rolls back (and unlocks) whatever was not committed


async def relay_forever(db, rpc, key: SigningKey, interval: float = 1.0) -> None:
    while True:
        try:
            while await relay_once(db, rpc, key):
                pass
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the broker or database is away: try again next round
            log.warning("outbox relay paused: %s", type(exc).__name__)
        await asyncio.sleep(interval)
