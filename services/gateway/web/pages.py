"""The web UI: server-rendered pages over the same use cases (usecases/) the JSON API uses.

This file has the home page, and gathers the other pages (one file per area: sign_in_pages,
incident_form, incident_page, pupil_pages, case_pages, tray_pages, roll_pages, alert_pages,
dead_letter_pages, dashboard_pages). Every page works without JavaScript; static/haven.js only makes the pickers and the
body map quicker. A domain error from a service becomes a calm page with the same status, never a stack
of JSON; a form that fails validation comes back with everything the member of staff typed still in it.
"""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.common.errors import HavenError

from ..deps import Ctx, CurrentUser
from ..usecases import alerts
from . import (alert_pages, case_pages, dashboard_pages, dead_letter_pages, incident_form, incident_page, pupil_pages,
               resume, roll_pages, school_pages, sign_in_pages, tray_pages)
from .common import error_page, render, static_files, to_sign_in

__all__ = ["router", "error_page", "to_sign_in", "static_files"]

router = APIRouter(include_in_schema=False)


# --- home -----------------------------------------------------------------------

@router.get("/")
async def home(request: Request, user: CurrentUser, ctx: Ctx):
    try:
        unread = await alerts.list_alerts(ctx, user, unread_only=True, limit=100)
        recent = await alerts.list_alerts(ctx, user, unread_only=False, limit=10) if user.is_dsl else []
        problem = None
    except HavenError as exc:
        unread, recent, problem = [], [], exc.message
    return render(request, "home.html", user, unread_count=len(unread), alerts=recent, problem=problem)


@router.get("/favicon.ico")
async def favicon():
    return Response(status_code=204)


for area in (sign_in_pages, incident_form, incident_page, pupil_pages, case_pages, tray_pages, roll_pages, resume,
             school_pages, dashboard_pages, alert_pages, dead_letter_pages):
    router.include_router(area.router)
