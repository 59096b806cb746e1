"""A member of staff's alerts and how they are e-mailed, who was alerted about an incident and who opened it, the school's alert settings, and the alert e-mails
that could not be delivered (the alerts service, which re-checks who may do each)."""
from __future__ import annotations

from services.common.contracts.alerts import PreferencesIn, SchoolAlertSettingsIn
from services.common.errors import HavenError, ServiceUnavailable

from .context import AuditLabel, Context

READ_INCIDENT_ALERTS = AuditLabel("read_incident_alerts", "incident")


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


# --- who has been alerted about an incident, and who has opened it (the read receipts) -----------------

async def incident_alerts(ctx: Context, user, incident_id: int) -> dict:
    """Who was alerted about an incident, its escalations, and who has opened it (audited). The alerts
    service decides who may see them (the DSL team and the incident's recorder)."""
    return await ctx.audited(user, READ_INCIDENT_ALERTS, incident_id,
                             lambda: ctx.clients.alerts.incident_alerts(user.actor_token, incident_id=incident_id))


async def incident_alerts_for_page(ctx: Context, user, incident: dict) -> tuple[dict | None, str | None]:
    """(the receipts, None) for the incident page; (None, None) when this reader is not shown them; (None, a
    calm message) when the alerts service is not answering. Asked only for the DSL team and the recorder,
    whom the alerts service may show them to: anyone else would only be refused (and audited as refused)."""
    recorder = (incident.get("recorded_by") or {}).get("id")
    if not (user.is_dsl or (recorder is not None and recorder == user.id)):
        return None, None
    try:
        return await incident_alerts(ctx, user, incident["id"]), None
    except ServiceUnavailable:
        return None, "Who has been alerted cannot be shown just now. The alerts themselves are not affected."
    except HavenError:
        return None, None  # refused or not known to the alerts service: the section is not shown
