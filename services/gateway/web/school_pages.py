"""Working in another school of the trust (/account/schools): the schools the account holds a role at,
the current one marked, and a button to switch to each other one. The same use case as
`POST /api/v1/session/school`: a school where the account holds no role is refused (and audited), and
the roles there apply from the next page on, asking for the second factor if they need one not yet given.
"""
from __future__ import annotations

from fastapi import APIRouter, Request

from ..deps import Ctx, CurrentUser
from ..usecases import session
from .common import as_id, error_page, redirect, render

router = APIRouter(include_in_schema=False)
CHOOSE = "Choose a school from the list."


@router.get("/account/schools")
async def schools_page(request: Request, user: CurrentUser, ctx: Ctx):
    return render(request, "schools.html", user, schools=await session.schools(ctx, user), error=None)


@router.post("/account/schools")
async def switch_school_submit(request: Request, user: CurrentUser, ctx: Ctx):
    school_id = as_id((await request.form()).get("school_id"))
    if school_id is None or school_id < 1:
        return render(request, "schools.html", user, 422, schools=await session.schools(ctx, user), error=CHOOSE)
    if await session.switch_school(ctx, user, school_id) is None:
        return error_page(request, 403, session.NOT_A_MEMBER, user, explain=False)
    return redirect("/")
