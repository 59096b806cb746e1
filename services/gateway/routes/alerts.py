from __future__ import annotations

from fastapi import APIRouter, Query

from ..deps import CurrentUser, Rpc

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])


@router.get("", summary="The caller's alerts, newest first")
async def list_alerts(user: CurrentUser, rpc: Rpc, unread_only: bool = False,
                      limit: int = Query(100, ge=1, le=500)):
    return await rpc.call("alerts", "list_alerts", user.actor_token, unread_only, limit)


@router.post("/{alert_id}/read", summary="Mark an alert as read")
async def mark_read(alert_id: int, user: CurrentUser, rpc: Rpc):
    return await rpc.call("alerts", "mark_alert_read", user.actor_token, alert_id)
