"""Publishes the gateway's outbox (staff-directory events) over the RPC client's confirmed channel."""
from __future__ import annotations

import asyncio
import logging

from sqlalchemy import select

from services.common.db import utcnow

from .models import OutboxEvent

log = logging.getLogger("haven.gateway.relay")


def _unpublished(session, batch: int = 100):
    rows = session.scalars(select(OutboxEvent).where(OutboxEvent.published_at.is_(None))
                           .order_by(OutboxEvent.id).limit(batch)).all()
    return [(r.id, r.event_type, r.body, r.event_id) for r in rows]


def _mark_published(session, row_id: int) -> None:
    session.get(OutboxEvent, row_id).published_at = utcnow()


async def relay_once(db, rpc) -> int:
    rows = await db.run(_unpublished)
    for row_id, event_type, body, event_id in rows:
        await rpc.publish_event("gateway", event_type, body, event_id)
        await db.run(_mark_published, row_id)
    return len(rows)


async def relay_forever(db, rpc, interval: float = 1.0) -> None:
    while True:
        try:
            await relay_once(db, rpc)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the broker or database is away: try again next round
            log.warning("outbox relay paused: %s", type(exc).__name__)
        await asyncio.sleep(interval)
