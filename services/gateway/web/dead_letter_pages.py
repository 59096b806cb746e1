"""The administrator's page of dead-lettered events: how many wait behind each event handler, with a
button to put them back (usecases/dead_letters.py). Counts only: a parked event is not shown."""
from __future__ import annotations

from fastapi import APIRouter, Request

from services.common.errors import HavenError

from ..deps import AdminUser, Ctx
from ..usecases import dead_letters
from .common import error_page, redirect, render

router = APIRouter(include_in_schema=False)


@router.get("/admin/dead-letters")
async def dead_letters_page(request: Request, user: AdminUser, ctx: Ctx, replayed: str = "", queue: str = ""):
    try:
        queues = await dead_letters.list_dead_letters(ctx, user)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user, explain=False)
    notice = None
    if replayed.isdigit() and len(replayed) < 8 and queue in dead_letters.known_queues():
        count = int(replayed)
        notice = (f"{count} event{'s' if count != 1 else ''} put back for {dead_letters.known_queues()[queue]['service']}"
                  f" to handle again." if count else "There was nothing to replay.")
    return render(request, "dead_letters.html", user, queues=queues, notice=notice,
                  waiting=sum(q["messages"] for q in queues))


@router.post("/admin/dead-letters/{queue}/replay")
async def replay_dead_letters_submit(request: Request, queue: str, user: AdminUser, ctx: Ctx):
    try:
        done = await dead_letters.replay(ctx, user, queue)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user, explain=False)
    return redirect(f"/admin/dead-letters?replayed={done['replayed']}&queue={done['queue']}")
