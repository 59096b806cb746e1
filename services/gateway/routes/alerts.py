"""Alerts: a member of staff's alerts and how they want them e-mailed; the school's alert settings and
the alert e-mails that could not be delivered (the DSL team and administrators)."""
from __future__ import annotations

from services.common.contracts.alerts import (AlertView, FailedMailView, PreferencesIn, PreferencesView,
                                              SchoolAlertSettingsIn, SchoolAlertSettingsView)

from . import api_router
from ..deps import Ctx, CurrentUser, DslOrAdminUser
from ..schemas import PathId
from ..usecases import alerts

# One router for the alerts resource and the school's settings for it (/api/v1/alert-settings).
router = api_router("/api/v1", "alerts")


@router.get("/alerts", response_model=list[AlertView], summary="The caller's alerts, newest first")
async def list_alerts(user: CurrentUser, ctx: Ctx, unread_only: bool = False, limit: int = 100):
    return await alerts.list_alerts(ctx, user, unread_only, limit)


@router.post("/alerts/{alert_id}/read", response_model=AlertView, summary="Mark an alert as read")
async def mark_read(alert_id: PathId, user: CurrentUser, ctx: Ctx):
    return await alerts.mark_read(ctx, user, alert_id)


@router.get("/alerts/preferences", response_model=PreferencesView,
            summary="How the caller's alerts are e-mailed: each at once, or non-urgent ones in a daily digest")
async def get_alert_preferences(user: CurrentUser, ctx: Ctx):
    return await alerts.preferences(ctx, user)


@router.put("/alerts/preferences", response_model=PreferencesView,
            summary="Choose how the caller's alerts are e-mailed (urgent alerts always go at once)")
async def save_alert_preferences(body: PreferencesIn, user: CurrentUser, ctx: Ctx):
    return await alerts.save_preferences(ctx, user, body)


@router.get("/alerts/failed", response_model=list[FailedMailView],
            summary="Alert e-mails given up on after their retries (DSL team and administrators)")
async def list_failed_mail(user: DslOrAdminUser, ctx: Ctx):
    return await alerts.failed_mail(ctx, user)


@router.post("/alerts/failed/{mail_id}/retry", response_model=FailedMailView,
             summary="Send a failed alert e-mail again (DSL team and administrators)")
async def retry_failed_mail(mail_id: PathId, user: DslOrAdminUser, ctx: Ctx):
    return await alerts.retry_mail(ctx, user, mail_id)


@router.get("/alert-settings", response_model=SchoolAlertSettingsView,
            summary="The school's alert settings (DSL team and administrators)")
async def get_alert_settings(user: DslOrAdminUser, ctx: Ctx):
    return await alerts.school_settings(ctx, user)


@router.put("/alert-settings", response_model=SchoolAlertSettingsView,
            summary="Save the school's alert settings; a field left out takes its default "
                    "(DSL team and administrators)")
async def save_alert_settings(body: SchoolAlertSettingsIn, user: DslOrAdminUser, ctx: Ctx):
    return await alerts.save_school_settings(ctx, user, body)
