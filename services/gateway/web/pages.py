"""The web UI: server-rendered pages over the same use cases (usecases/) the JSON API uses.

This file has signing in, the home page and alerts, and gathers the other pages (one file per
area: incident_form, incident_page, pupil_pages, case_pages, tray_pages, roll_pages). Every page
works without JavaScript; static/haven.js only makes the pickers and the body map quicker. A domain
error from a service becomes a calm page with the same status, never a stack of JSON; a form that
fails validation comes back with everything the member of staff typed still in it.
"""
from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from services.common.errors import HavenError

from ..deps import Ctx, CurrentUser, MaybeSignedIn, Settings, SignedIn, clear_session_cookie, set_session_cookie
from ..schemas import PathId
from ..usecases import alerts, session
from . import case_pages, incident_form, incident_page, pupil_pages, resume, roll_pages, tray_pages
from .common import error_page, redirect, render, safe_next, static_files, to_sign_in

__all__ = ["router", "error_page", "to_sign_in", "static_files"]

router = APIRouter(include_in_schema=False)


# --- signing in and out --------------------------------------------------------------------

@router.get("/sign-in")
async def sign_in_page(request: Request, user: MaybeSignedIn, next: str = "/", signed_out: bool = False):
    if user is not None:
        if user.second_factor_required:
            return redirect("/sign-in/code?next=" + quote(safe_next(next), safe=""))
        return redirect(safe_next(next))
    return render(request, "sign_in.html", next=safe_next(next), email="", errors=[],
                  notice="You have signed out." if signed_out else None)


@router.post("/sign-in")
async def sign_in_submit(request: Request, ctx: Ctx, cfg: Settings, email: str = Form(""),
                         password: str = Form(""), next: str = Form("/")):
    errors = []
    if not email.strip():
        errors.append({"field": "email", "message": "Enter your school e-mail address."})
    if not password:
        errors.append({"field": "password", "message": "Enter your password."})
    result = None
    if not errors:
        result = await session.sign_in(ctx, email[:254], password[:1000])
        if result is None:
            errors.append({"field": "email", "message": "That e-mail and password do not match an active "
                                                        "account. Check them and try again."})
    if errors:
        return render(request, "sign_in.html", status_code=401 if result is None and email and password else 422,
                      next=safe_next(next), email=email, errors=errors, notice=None)
    token, payload = result
    target = safe_next(next)
    if payload["second_factor_required"]:
        target = "/sign-in/code?next=" + quote(target, safe="")
    response = redirect(target)
    set_session_cookie(response, token, cfg)
    return response


@router.get("/sign-in/code")
async def code_page(request: Request, user: SignedIn, next: str = "/"):
    if not user.second_factor_required:
        return redirect(safe_next(next))
    return render(request, "sign_in_code.html", user, next=safe_next(next), errors=[])


@router.post("/sign-in/code")
async def code_submit(request: Request, user: SignedIn, ctx: Ctx, code: str = Form(""),
                      next: str = Form("/")):
    if not user.second_factor_required:
        return redirect(safe_next(next))
    code = code.strip().replace(" ", "")
    if not code:
        message = "Enter the 6-digit code from your authenticator app."
    elif await session.second_factor(ctx, user, code[:10]):
        return redirect(safe_next(next))
    else:
        message = ("That code is not right, or it has already been used. Wait for the next code in your "
                   "authenticator app and try again.")
    return render(request, "sign_in_code.html", user, status_code=401, next=safe_next(next),
                  errors=[{"field": "code", "message": message}])


@router.post("/sign-out")
async def sign_out_submit(user: SignedIn, ctx: Ctx):
    await session.sign_out(ctx, user)
    response = redirect("/sign-in?signed_out=1")
    clear_session_cookie(response)
    return response


# --- home and alerts -----------------------------------------------------------------------

@router.get("/")
async def home(request: Request, user: CurrentUser, ctx: Ctx):
    try:
        unread = await alerts.list_alerts(ctx, user, unread_only=True, limit=100)
        recent = await alerts.list_alerts(ctx, user, unread_only=False, limit=10) if user.is_dsl else []
        problem = None
    except HavenError as exc:
        unread, recent, problem = [], [], exc.message
    return render(request, "home.html", user, unread_count=len(unread), alerts=recent, problem=problem)


@router.get("/alerts")
async def alerts_page(request: Request, user: CurrentUser, ctx: Ctx):
    try:
        found = await alerts.list_alerts(ctx, user, unread_only=False, limit=100)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    return render(request, "alerts.html", user, alerts=found)


@router.post("/alerts/{alert_id}/read")
async def alert_read(request: Request, alert_id: PathId, user: CurrentUser, ctx: Ctx):
    try:
        await alerts.mark_read(ctx, user, alert_id)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user)
    return redirect(f"/alerts#alert-{alert_id}")


@router.get("/favicon.ico")
async def favicon():
    return Response(status_code=204)


for area in (incident_form, incident_page, pupil_pages, case_pages, tray_pages, roll_pages, resume):
    router.include_router(area.router)
