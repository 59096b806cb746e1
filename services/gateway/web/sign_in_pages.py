"""Signing in and out, the second factor, setting one up, step-up, and the account's security page.

- `/sign-in`: e-mail and password. Login CSRF: a cross-site request (`Sec-Fetch-Site`, `Origin`) is
  refused, and the form carries a token that must match a cookie set with the form (double submit), so
  another site cannot sign a browser in to an account of its choosing. Throttled (throttle.py): 429.
- `/sign-in/code`: the second factor (a code from the app, a security key through static/webauthn.js, or
  a recovery code).
- `/sign-in/enrol`: first sign-in of someone who must hold a second factor and has none: the app's QR
  code and secret (or a security key); one right code finishes it, then the recovery codes, once.
- `/step-up`: a safeguarding record needs a factor given in the last few minutes; afterwards, back to
  `next` (a local path only).
- `/account/security`: security keys (add, remove), new recovery codes.
Every `next` is checked by `safe_next` (a path of ours, never another site).
"""
from __future__ import annotations

import secrets
from urllib.parse import quote

from fastapi import APIRouter, Form, HTTPException, Request

from services.common.errors import HavenError

from ..deps import (CROSS_SITE_MESSAGE, Ctx, CurrentUser, MaybeSignedIn, Settings, SignedIn, clear_session_cookie,
                    refuse_cross_site_audited, set_device_cookie, set_session_cookie)
from .. import throttle
from ..factors import Verdict
from ..throttle import MESSAGE as THROTTLED
from ..usecases import factors, session
from .common import error_page, redirect, render, safe_next

router = APIRouter(include_in_schema=False)

SIGN_IN_COOKIE = "haven_sign_in"
WRONG_CODE = ("That code is not right, or it has already been used. Wait for the next code in your "
              "authenticator app and try again.")
LOCKED = ("Your second factor is locked after too many wrong codes. Use one of your recovery codes, or ask "
          "an administrator to reset it.")


def _with_next(path: str, target: str) -> str:
    return f"{path}?next={quote(safe_next(target), safe='')}"


def where_next(user, target: str) -> str:
    """Where a signed-in session goes: set up a factor, give it, or on to `target`."""
    if user.enrolment_required:
        return _with_next("/sign-in/enrol", target)
    if user.second_factor_required:
        return _with_next("/sign-in/code", target)
    return safe_next(target)


def verdict_message(verdict: Verdict, wrong: str = WRONG_CODE) -> str:
    if verdict.outcome == "wait":
        return f"Too many wrong answers. Wait {verdict.retry_after} seconds, then try again."
    if verdict.outcome == "locked":
        return LOCKED
    return wrong


def _status(verdict: Verdict) -> int:
    return {"wait": 429, "locked": 423}.get(verdict.outcome, 401)


# --- e-mail and password ---------------------------------------------------------------------------------

def _sign_in_form(request: Request, cfg, *, status_code: int = 200, next: str = "/", email: str = "",
                  errors: list | None = None, notice: str | None = None, headers: dict | None = None):
    """The form, with a fresh double-submit token in the page and in a cookie for /sign-in only."""
    token = secrets.token_urlsafe(32)
    response = render(request, "sign_in.html", status_code=status_code, next=safe_next(next), email=email,
                      errors=errors or [], notice=notice, sign_in_token=token)
    response.set_cookie(SIGN_IN_COOKIE, token, httponly=True, samesite="strict", secure=cfg.cookie_secure,
                        path="/sign-in")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _double_submitted(request: Request, given: str) -> bool:
    cookie = request.cookies.get(SIGN_IN_COOKIE)
    return bool(cookie and given) and secrets.compare_digest(cookie.encode("utf-8", "replace"),
                                                             given.encode("utf-8", "replace"))


@router.get("/sign-in")
async def sign_in_page(request: Request, user: MaybeSignedIn, cfg: Settings, next: str = "/",
                       signed_out: bool = False):
    if user is not None:
        return redirect(where_next(user, next))
    return _sign_in_form(request, cfg, next=next, notice="You have signed out." if signed_out else None)


@router.post("/sign-in")
async def sign_in_submit(request: Request, ctx: Ctx, cfg: Settings, email: str = Form(""),
                         password: str = Form(""), next: str = Form("/"), sign_in_token: str = Form("")):
    try:
        await refuse_cross_site_audited(request, cfg, ctx.db)
    except HTTPException:
        return error_page(request, 403, CROSS_SITE_MESSAGE, explain=False)
    if not _double_submitted(request, sign_in_token):
        return _sign_in_form(request, cfg, status_code=403, next=next, email=email, errors=[
            {"field": "email", "message": "The sign-in form had expired. Enter your details again."}])
    errors = []
    if not email.strip():
        errors.append({"field": "email", "message": "Enter your school e-mail address."})
    if not password:
        errors.append({"field": "password", "message": "Enter your password."})
    if errors:
        return _sign_in_form(request, cfg, status_code=422, next=next, email=email, errors=errors)
    result = await session.sign_in(ctx, email[:254], password[:1000], request.cookies.get(throttle.DEVICE_COOKIE))
    if result.retry_after is not None:
        message = THROTTLED.format(seconds=result.retry_after)
        return _sign_in_form(request, cfg, status_code=429, next=next, email=email,
                             errors=[{"field": "email", "message": message}],
                             headers={"Retry-After": str(result.retry_after)})
    if not result.ok:
        return _sign_in_form(request, cfg, status_code=401, next=next, email=email, errors=[
            {"field": "email", "message": "That e-mail and password do not match an active account. Check "
                                          "them and try again."}])
    target = safe_next(next)
    if result.body["enrolment_required"]:
        target = _with_next("/sign-in/enrol", target)
    elif result.body["second_factor_required"]:
        target = _with_next("/sign-in/code", target)
    response = redirect(target)
    set_session_cookie(response, result.token, cfg)
    set_device_cookie(response, result.device_cookie, cfg)
    response.delete_cookie(SIGN_IN_COOKIE, path="/sign-in")
    return response


@router.post("/sign-out")
async def sign_out_submit(user: SignedIn, ctx: Ctx):
    await session.sign_out(ctx, user)
    response = redirect("/sign-in?signed_out=1")
    clear_session_cookie(response)
    return response


# --- the second factor -------------------------------------------------------------------------------------

async def _code_page(request: Request, ctx: Ctx, user, next: str, *, template: str = "sign_in_code.html",
                     status_code: int = 200, error: str | None = None, recovery_error: str | None = None):
    found = await factors.overview(ctx, user)
    return render(request, template, user, status_code=status_code, next=safe_next(next), error=error,
                  recovery_error=recovery_error, has_keys=bool(found["keys"]), has_totp=found["totp"],
                  locked=found["locked"])


@router.get("/sign-in/code")
async def code_page(request: Request, user: SignedIn, ctx: Ctx, next: str = "/"):
    if user.enrolment_required or not user.second_factor_required:
        return redirect(where_next(user, next))
    return await _code_page(request, ctx, user, next)


@router.post("/sign-in/code")
async def code_submit(request: Request, user: SignedIn, ctx: Ctx, code: str = Form(""), next: str = Form("/")):
    if user.enrolment_required or not user.second_factor_required:
        return redirect(where_next(user, next))
    code = code.strip().replace(" ", "")
    if not code:
        return await _code_page(request, ctx, user, next, status_code=422,
                                error="Enter the 6-digit code from your authenticator app.")
    verdict = await session.second_factor(ctx, user, code[:10])
    if verdict.ok:
        return redirect(safe_next(next))
    return await _code_page(request, ctx, user, next, status_code=_status(verdict), error=verdict_message(verdict))


@router.post("/sign-in/recovery")
async def recovery_submit(request: Request, user: SignedIn, ctx: Ctx, recovery_code: str = Form(""),
                          next: str = Form("/"), back: str = Form("code")):
    """A recovery code instead of the usual factor (at sign-in or step-up): once, and it unlocks."""
    template = "step_up.html" if back == "step-up" else "sign_in_code.html"
    if not recovery_code.strip():
        return await _code_page(request, ctx, user, next, template=template, status_code=422,
                                recovery_error="Enter one of your recovery codes.")
    verdict = await session.recovery_code(ctx, user, recovery_code[:40])
    if verdict.ok:
        return redirect(safe_next(next))
    return await _code_page(request, ctx, user, next, template=template, status_code=_status(verdict),
                            recovery_error=verdict_message(verdict, "That recovery code is not right, or it "
                                                                    "has been used."))


# --- setting up a second factor -----------------------------------------------------------------------------

async def _enrol_page(request: Request, ctx: Ctx, user, next: str, *, status_code: int = 200,
                      error: str | None = None):
    try:
        enrolment = await factors.begin_totp(ctx, user)
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user, explain=False)
    return render(request, "enrol.html", user, status_code=status_code, next=safe_next(next), error=error,
                  enrolment=enrolment)


@router.get("/sign-in/enrol")
async def enrol_page(request: Request, user: SignedIn, ctx: Ctx, next: str = "/"):
    if not user.enrolment_required:
        return redirect(where_next(user, next))
    return await _enrol_page(request, ctx, user, next)


@router.post("/sign-in/enrol")
async def enrol_submit(request: Request, user: SignedIn, ctx: Ctx, code: str = Form(""), next: str = Form("/")):
    if not user.enrolment_required:
        return redirect(where_next(user, next))
    code = code.strip().replace(" ", "")
    if not code:
        return await _enrol_page(request, ctx, user, next, status_code=422,
                                 error="Enter the 6-digit code your authenticator app shows for Haven.")
    try:
        verdict, codes = await factors.confirm_totp(ctx, user, code[:10])
    except HavenError as exc:
        return error_page(request, exc.status_code, exc.message, user, explain=False)
    if not verdict.ok:
        return await _enrol_page(request, ctx, user, next, status_code=_status(verdict),
                                 error=verdict_message(verdict))
    return render(request, "recovery_codes.html", user, codes=codes or [], next=safe_next(next), first=True)


# --- step-up -----------------------------------------------------------------------------------------------

@router.get("/step-up")
async def step_up_page(request: Request, user: CurrentUser, ctx: Ctx, next: str = "/"):
    return await _code_page(request, ctx, user, next, template="step_up.html")


@router.post("/step-up")
async def step_up_submit(request: Request, user: CurrentUser, ctx: Ctx, code: str = Form(""),
                         next: str = Form("/")):
    code = code.strip().replace(" ", "")
    if not code:
        return await _code_page(request, ctx, user, next, template="step_up.html", status_code=422,
                                error="Enter the 6-digit code from your authenticator app.")
    verdict = await session.second_factor(ctx, user, code[:10])
    if verdict.ok:
        return redirect(safe_next(next))
    return await _code_page(request, ctx, user, next, template="step_up.html", status_code=_status(verdict),
                            error=verdict_message(verdict))


# --- the account's security ---------------------------------------------------------------------------------

@router.get("/account/security")
async def security_page(request: Request, user: CurrentUser, ctx: Ctx):
    found = await factors.overview(ctx, user)
    return render(request, "security.html", user, factors=found, error=None)


@router.post("/account/recovery-codes")
async def recovery_codes_submit(request: Request, user: CurrentUser, ctx: Ctx):
    try:
        codes = await factors.new_recovery_codes(ctx, user)
    except HavenError as exc:
        if exc.status_code == 403:
            return redirect("/step-up?next=" + quote("/account/security", safe=""))
        return error_page(request, exc.status_code, exc.message, user, explain=False)
    return render(request, "recovery_codes.html", user, codes=codes, next="/account/security", first=False)


@router.post("/account/security/keys/{key_id}/remove")
async def remove_key_submit(request: Request, key_id: int, user: CurrentUser, ctx: Ctx):
    if not 0 < key_id < 2**31:
        return error_page(request, 404, None, user)
    try:
        removed = await factors.remove_key(ctx, user, key_id)
    except HavenError as exc:
        if exc.status_code == 403:
            return redirect("/step-up?next=" + quote("/account/security", safe=""))
        return error_page(request, exc.status_code, exc.message, user, explain=False)
    if not removed:
        return error_page(request, 404, None, user)
    return redirect("/account/security")
