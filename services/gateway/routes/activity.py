"""The session's clock for the page's time-out warning: GET says how long is left (and is not itself
activity), POST counts as activity and extends the session (CSRF token required, like every POST)."""
from __future__ import annotations

from fastapi import HTTPException, Request
from pydantic import BaseModel

from . import api_router
from ..deps import SESSION_COOKIE, Ctx, SignedIn
from ..usecases import activity

router = api_router("/api/v1/session/activity", "session")


class SessionTime(BaseModel):
    seconds_left: int
    idle_seconds: int


def _answer(ctx, left: int | None) -> SessionTime:
    if left is None:
        raise HTTPException(401, "Please sign in.")
    return SessionTime(seconds_left=left, idle_seconds=ctx.settings.session_idle_minutes * 60)


@router.get("", response_model=SessionTime, summary="How long the session has left (does not extend it)",
            responses={401: {"description": "No live session"}})
async def time_left(request: Request, ctx: Ctx):
    # Not SignedIn: resolving the session refreshes its last-seen time, and asking must not extend it.
    return _answer(ctx, await activity.time_left(ctx, request.cookies.get(SESSION_COOKIE)))


@router.post("", response_model=SessionTime, summary="Count as activity: extend the session",
             responses={401: {"description": "No live session"}, 403: {"description": "No CSRF token"}})
async def keep_alive(request: Request, user: SignedIn, ctx: Ctx):
    return _answer(ctx, await activity.keep_alive(ctx, request.cookies.get(SESSION_COOKIE)))
