"""A member of staff's alerts and how they are e-mailed, the school's alert settings, and the alert e-mails
that could not be delivered (the alerts service, which re-checks who may do each)."""
from __future__ import annotations

from services.common.contracts.alerts import PreferencesIn, SchoolAlertSettingsIn

from .context import Context


async def list_alerts(ctx: Context, user, unread_only: bool = False, limit: int = 100) -> list[dict]:
    return await ctx.clients.alerts.list_alerts(user.actor_token, unread_only=unread_only, limit=limit)


async def mark_read(ctx: Context, user, alert_id: int) -> dict:
    return await ctx.clients.alerts.mark_alert_read(user.actor_token, alert_id=alert_id)


# --- the school's settings (the DSL team and administrators) ----------------------------------------

async def school_settings(ctx: Context, user) -> dict:
    return await ctx.clients.alerts.get_school_settings(user.actor_token)


async def save_school_settings(ctx: Context, user, settings: SchoolAlertSettingsIn) -> dict:
    return await ctx.clients.alerts.save_school_settings(user.actor_token, settings=settings)


# --- each member of staff's own choice ------------------------------------------------------------------

async def preferences(ctx: Context, user) -> dict:
    return await ctx.clients.alerts.get_preferences(user.actor_token)


async def save_preferences(ctx: Context, user, preferences: PreferencesIn) -> dict:
    return await ctx.clients.alerts.save_preferences(user.actor_token, preferences=preferences)


# --- e-mails given up on, and sent again ----------------------------------------------------------------

async def failed_mail(ctx: Context, user) -> list[dict]:
    return await ctx.clients.alerts.failed_mail(user.actor_token)


async def retry_mail(ctx: Context, user, mail_id: int) -> dict:
    return await ctx.clients.alerts.retry_mail(user.actor_token, mail_id=mail_id)
