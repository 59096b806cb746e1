"""Signing in and out of the JSON API (the web pages' forms do the same through the same use cases)."""
from __future__ import annotations

from fastapi import HTTPException, Response

from . import api_router
from ..deps import Ctx, Settings, SignedIn, clear_session_cookie, set_session_cookie
from ..schemas import Credentials, SecondFactorRequest, SessionView
from ..usecases import session

router = api_router("/api/v1/session", "session")


@router.post("", response_model=SessionView, summary="Sign in with e-mail and password")
async def create_session(body: Credentials, response: Response, ctx: Ctx, cfg: Settings):
    result = await session.sign_in(ctx, body.email, body.password)
    if result is None:
        raise HTTPException(401, "That e-mail and password do not match an active account.")
    token, payload = result
    set_session_cookie(response, token, cfg)
    return payload


@router.post("/second-factor", response_model=SessionView, response_model_exclude_none=True,
             summary="Give the TOTP code (DSL and SLT)")
async def second_factor(body: SecondFactorRequest, user: SignedIn, ctx: Ctx):
    if not await session.second_factor(ctx, user, body.code):
        raise HTTPException(401, "That code is not right. Check your authenticator app and try again.")
    return {"user": user.public(), "second_factor_required": False}


@router.get("", response_model=SessionView, summary="Who is signed in")
async def whoami(user: SignedIn):
    return {"user": user.public(), "csrf_token": user.csrf_token,
            "second_factor_required": user.second_factor_required}


@router.delete("", status_code=204, summary="Sign out")
async def delete_session(user: SignedIn, response: Response, ctx: Ctx):
    await session.sign_out(ctx, user)
    clear_session_cookie(response)
    response.status_code = 204
    return None
