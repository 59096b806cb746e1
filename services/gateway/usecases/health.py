"""Whether every service is answering."""
from __future__ import annotations

import asyncio

from sqlalchemy import text

from services.common.errors import HavenError

from .context import Context

HEALTH_TIMEOUT = 3  # seconds: a health check answers at once or not at all


async def health(ctx: Context) -> dict[str, str]:
    """Each service: ok, unhealthy, unavailable (not running), timeout or error."""
    async def probe(client):
        try:
            answer = await client.health.send((), {}, HEALTH_TIMEOUT)
            return "ok" if answer == "ok" else "unhealthy"
        except HavenError as exc:
            return "unavailable" if exc.status_code == 503 else "timeout" if exc.status_code == 504 else "error"

    services = ctx.clients.all()
    results = await asyncio.gather(*(probe(c) for c in services))
    return {c.service: r for c, r in zip(services, results)}


async def readiness(ctx: Context) -> dict[str, object]:
    """May this gateway take requests? Its database answers, its broker connection is up, and every
    service answers health. Each part is "ok" or why not; nothing else (the answer is public)."""
    try:
        await asyncio.wait_for(ctx.db.run(lambda session: session.execute(text("SELECT 1"))), HEALTH_TIMEOUT)
        database = "ok"
    except Exception:  # any failure is "not ready"; the reason is in the database's own log
        database = "unavailable"
    broker = "ok" if ctx.clients.rpc.connected else "unavailable"
    # Without the broker no service can answer: say so at once rather than wait out each call.
    services = await health(ctx) if broker == "ok" else {c.service: "unavailable" for c in ctx.clients.all()}
    return {"database": database, "broker": broker, "services": services}
