"""A member of staff's alerts."""
from __future__ import annotations



from services.common.contracts.alerts import AlertView

from . import api_router
from ..deps import Ctx, CurrentUser
from ..schemas import PathId
from ..usecases import alerts

router = api_router("/api/v1/alerts", "alerts")


@router.get("", response_model=list[AlertView], summary="The caller's alerts, newest first")
async def list_alerts(user: CurrentUser, ctx: Ctx, unread_only: bool = False, limit: int = 100):
    return await alerts.list_alerts(ctx, user, unread_only, limit)


@router.post("/{alert_id}/read", response_model=AlertView, summary="Mark an alert as read")
async def mark_read(alert_id: PathId, user: CurrentUser, ctx: Ctx):
    return await alerts.mark_read(ctx, user, alert_id)
