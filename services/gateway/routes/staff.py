"""The staff picker (who to alert, who to assign an action to)."""
from __future__ import annotations

from fastapi import Query

from . import api_router
from ..deps import Ctx, Recorder
from ..schemas import StaffView
from ..usecases import staff

router = api_router("/api/v1/staff", "staff")


@router.get("", response_model=list[StaffView], summary="Search staff to alert")
async def search(user: Recorder, ctx: Ctx, q: str = Query("", max_length=100),
                 limit: int = Query(20, ge=1, le=100)):
    return await staff.search(ctx, user, q, limit)
