"""Dead-lettered events: the administrator's JSON API (under /api/v1/admin, included by routes/admin.py)."""
from __future__ import annotations

from pydantic import BaseModel

from . import api_router
from ..deps import AdminUser, Ctx
from ..usecases import dead_letters

router = api_router("/dead-letters", "admin")


class DeadLetterQueueView(BaseModel):
    queue: str
    service: str
    handler: str
    event: str
    messages: int


class ReplayView(BaseModel):
    queue: str
    replayed: int


@router.get("", response_model=list[DeadLetterQueueView],
            summary="Each event handler's queue with the number of events dead-lettered behind it (administrator)")
async def list_dead_letters(user: AdminUser, ctx: Ctx):
    return await dead_letters.list_dead_letters(ctx, user)


@router.post("/{queue}/replay", response_model=ReplayView,
             summary="Put a handler's dead-lettered events back on its queue (administrator; audited)")
async def replay_dead_letters(queue: str, user: AdminUser, ctx: Ctx):
    # Only a handler's queue the contracts declare: any other name is a 404 before the broker is asked.
    return await dead_letters.replay(ctx, user, queue)
