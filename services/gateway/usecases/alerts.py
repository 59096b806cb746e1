"""A member of staff's alerts (the alerts service)."""
from __future__ import annotations

from .context import Context


async def list_alerts(ctx: Context, user, unread_only: bool = False, limit: int = 100) -> list[dict]:
    return await ctx.clients.alerts.list_alerts(user.actor_token, unread_only=unread_only, limit=limit)


async def mark_read(ctx: Context, user, alert_id: int) -> dict:
    return await ctx.clients.alerts.mark_alert_read(user.actor_token, alert_id=alert_id)
