"""The incident tray: monitoring systems post alerts with an API key; the DSL team handles them.

The inbound endpoint takes only the key (no session cookie, so no CSRF token): the gateway signs an
actor of kind "integration" for it and the incidents service accepts nothing else there.
"""
from __future__ import annotations

from typing import Literal

from fastapi import Response

from services.common.contracts.incidents import TRAY_FILTERS

from . import api_router
from ..deps import Ctx, DslUser, Integration, audits
from ..schemas import AttachRequest, DismissRequest, PathId, TrayAlertRequest, TrayAttached, TrayItemView, TrayReceipt
from ..usecases import tray

router = api_router("/api/v1/tray", "tray")


@router.post("/alerts", status_code=201, response_model=TrayReceipt,
             summary="Post an alert from a monitoring system (API key; 200 when already received)",
             responses={200: {"description": "This external_id was received before: the same tray item",
                              "model": TrayReceipt},
                        401: {"description": "The API key is missing, not valid or revoked"}})
async def receive_alert(body: TrayAlertRequest, caller: Integration, ctx: Ctx, response: Response):
    item, created = await tray.receive_alert(ctx, caller, body)
    if not created:
        response.status_code = 200
    return item


@router.get("", response_model=list[TrayItemView], summary="The incident tray: alerts from monitoring systems (audited)")
@audits(tray.READ_TRAY)
async def list_tray(user: DslUser, ctx: Ctx, status: Literal[TRAY_FILTERS] = "pending"):
    return await tray.list_tray(ctx, user, status)


@router.post("/{item_id}/attach", response_model=TrayAttached,
             summary="Record a tray alert as an incident about a pupil")
@audits(tray.ATTACH_TRAY_ITEM, "item_id")
async def attach(item_id: PathId, body: AttachRequest, user: DslUser, ctx: Ctx):
    return await tray.attach(ctx, user, item_id, body)


@router.post("/{item_id}/dismiss", response_model=TrayItemView, summary="Dismiss a tray alert with a reason")
@audits(tray.DISMISS_TRAY_ITEM, "item_id")
async def dismiss(item_id: PathId, body: DismissRequest, user: DslUser, ctx: Ctx):
    return await tray.dismiss(ctx, user, item_id, body)
