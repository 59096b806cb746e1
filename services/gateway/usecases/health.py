"""Whether every service is answering."""
from __future__ import annotations

import asyncio

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
